using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Heads.Caching;
using RetrievalGuard.Heads.Detection;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Heads.Tests.Caching;

/// <summary>
/// On the shipped organism, 1,024 tokens of held-out text, needles at depths 0% and 50% (hundreds of tokens before a
/// 128-token window): keeping the retrieval heads' KV heads whole finds them; a streaming cache of the same sinks and
/// window has evicted them.
/// </summary>
public sealed class OrganismCacheTests : IDisposable
{
    private readonly LanguageModel _model = LanguageModel.Load(RepoPaths.Path("samples", "models", "organism"));
    private readonly HeldOutFolder _heldOut = new(RepoPaths.Path("samples", "corpus"));
    private static readonly CacheEvaluationSettings Settings = new() { Lengths = [1024] };

    public void Dispose()
    {
        _heldOut.Dispose();
        _model.Dispose();
    }

    private IReadOnlyList<NeedleTest> EvictedNeedles() => NeedleTests.Grid(_heldOut.Folder, Settings.Lengths, depths: 3,
        needles: 2, seed: 3, _model.Tokenizer.CountTokens).Where(t => t.Depth < 1).ToList();

    private CacheEvaluationReport Run(KvCachePolicy policy, IReadOnlyList<NeedleTest> needles) =>
        new CacheEvaluation(_model, policy, Settings).Run(needles, []);

    [Fact]
    public void HeadAwareFindsNeedlesThatStreamingEvicted()
    {
        var map = HeadMapCatalog.FindFor(_model)!;
        var headAware = CachePlans.HeadAware(map, CachePlans.Count(map, 0.25));
        var needles = EvictedNeedles();

        var kept = Run(headAware, needles);
        var streamed = Run(KvCachePolicy.Streaming(headAware.SinkTokens, headAware.Window), needles);

        Assert.Equal(4, needles.Count);
        Assert.True(kept.Niah.Accuracy >= 0.75, Answers(kept));
        Assert.True(streamed.Niah.Accuracy <= 0.25, Answers(streamed));
        // 8 of 32 KV heads whole, the rest 132 of ~1,070 positions: about a third of the full cache's bytes.
        Assert.InRange(kept.Niah.BytesShare, 0.30, 0.40);
        Assert.InRange(streamed.Niah.BytesShare, 0.10, 0.15);
    }

    [Fact]
    public void TheFullPolicyAnswersAsTheNeedleRunnerDoes()
    {
        var needles = EvictedNeedles().Take(2).ToList();
        var report = Run(KvCachePolicy.Full, needles);
        var runner = new NeedleRunner(_model);

        Assert.Equal(needles.Select(t => runner.Run(t).Answer), report.Items.Select(i => i.Answer));
    }

    private static string Answers(CacheEvaluationReport report) =>
        $"{report.Policy}: " + string.Join(" | ", report.Items.Select(i => $"{i.Expected} → {i.Answer}"));
}

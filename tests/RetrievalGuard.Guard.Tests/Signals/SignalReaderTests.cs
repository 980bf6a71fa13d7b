using RetrievalGuard.Guard.Prompting;
using RetrievalGuard.Guard.Tests.Support;

namespace RetrievalGuard.Guard.Tests.Signals;

public sealed class SignalReaderTests(OrganismFixture organism) : IClassFixture<OrganismFixture>
{
    private static readonly IReadOnlyList<Passage> Passages = Passage.Numbered(
    [
        "The coach left at dawn. The secret word of the red lantern is Kalomi. Nobody spoke of it again.",
        "Rain fell on the mill, and the river rose over the meadow.",
    ]);

    private const string Question = "What is the secret word of the red lantern?";

    [Fact]
    public async Task LiveAndTeacherForcedSignalsAgreeOnTheModelsOwnAnswer()
    {
        var guard = organism.Guard();
        var live = new List<GuardedToken>();
        await foreach (var token in guard.AskAsync(Passages, Question, maxTokens: 24))
            live.Add(token);
        var report = live[^1].Report!;
        Assert.Contains("Kalomi", report.Answer, StringComparison.Ordinal);

        var prompt = guard.Prompt(Passages, Question);
        var forced = guard.Reader.ReadAnswerIds(prompt, live.Select(t => t.Id).ToArray());
        var again = guard.Reader.ReadAnswer(prompt, report.Answer);

        Assert.Equal(report.Answer, forced.Answer);
        Assert.Equal(forced.Tokens.Select(t => t.Id), again.Tokens.Select(t => t.Id));
        var liveFeatures = report.Features.Values.ToArray();
        var forcedFeatures = RetrievalGuard.Guard.Risk.GuardFeatures.Compute(forced);
        for (var i = 0; i < forcedFeatures.Length; i++)
            Assert.True(Math.Abs(liveFeatures[i] - forcedFeatures[i]) < 1e-3,
                $"{RetrievalGuard.Guard.Risk.GuardFeatures.Names[i]}: live {liveFeatures[i]} "
                + $"vs teacher-forced {forcedFeatures[i]}");
    }

    /// <summary>
    /// A compressed cache per answer: with every KV head whole it answers as the reusable cache does; with only sinks
    /// and a short window for every head (streaming) the watched heads cannot reach the needle and the risk rises.
    /// </summary>
    [Fact]
    public async Task AnAnswerOnACompressedCacheIsWatchedLikeOneOnTheFullCache()
    {
        var guard = HallucinationGuard.ForModel(organism.Model); // with the shipped calibration: a risk to compare
        var config = guard.Model.Config;
        var everyHead = new RetrievalGuard.Engine.Caches.KvCachePolicy
        {
            Kind = RetrievalGuard.Engine.Caches.CacheKind.HeadAware, SinkTokens = 2, Window = 8,
            FullKvHeads = [.. Enumerable.Range(0, config.NumLayers)
                .SelectMany(l => Enumerable.Range(0, config.NumKvHeads)
                    .Select(h => new RetrievalGuard.Engine.Caches.KvHead(l, h)))],
        };

        var full = await Ask(guard, null);
        var whole = await Ask(guard, everyHead);
        var streaming = await Ask(guard, RetrievalGuard.Engine.Caches.KvCachePolicy.Streaming(2, 8));

        Assert.Equal(full.Answer, whole.Answer);
        Assert.Equal(full.Risk, whole.Risk, 3);
        Assert.DoesNotContain("Kalomi", streaming.Answer, StringComparison.Ordinal);
        Assert.True(streaming.Risk > full.Risk, $"streaming {streaming.Risk:F2} vs full {full.Risk:F2}");
    }

    private static async Task<GuardReport> Ask(HallucinationGuard guard,
        RetrievalGuard.Engine.Caches.KvCachePolicy? cache)
    {
        GuardReport? report = null;
        await foreach (var token in guard.AskAsync(Passages, Question, maxTokens: 24, cache: cache))
            report = token.Report ?? report;
        return report!;
    }

    [Fact]
    public void RetrievalHeadsCopyTheNeedleValueFromItsPassage()
    {
        var guard = organism.Guard();
        var prompt = guard.Prompt(Passages, Question);
        var signals = guard.Reader.ReadAnswer(prompt, "The secret word of the red lantern is Kalomi.");
        var views = RetrievalGuard.Guard.Risk.TokenView.Of(signals);
        var at = signals.Answer.IndexOf("Kalomi", StringComparison.Ordinal);
        var value = signals.Tokens.ToList().FindIndex(t => t.CharEnd > at);

        Assert.True(views[value].IsContent);
        Assert.True(views[value].Copy > 0.5, $"copy vote {views[value].Copy}");
        Assert.Equal(0, prompt.PassageAt(views[value].SourcePosition));
        Assert.Contains("Kalomi", signals.SentenceAt(views[value].SourcePosition), StringComparison.Ordinal);
    }

    [Fact]
    public void CharacterSpansCoverTheAnswerExactlyWithMultiByteText()
    {
        var guard = organism.Guard();
        var prompt = guard.Prompt(Passages, Question);
        const string answer = "Kalomi — naïve “word” 東京 🙂.";

        var signals = guard.Reader.ReadAnswer(prompt, answer);

        Assert.Equal(answer, signals.Answer);
        Assert.Equal(0, signals.Tokens[0].CharStart);
        Assert.Equal(answer.Length, signals.Tokens[^1].CharEnd);
        for (var i = 1; i < signals.Tokens.Count; i++)
            Assert.Equal(signals.Tokens[i - 1].CharEnd, signals.Tokens[i].CharStart);
        Assert.Equal(answer, string.Concat(signals.Tokens.Select(t => answer[t.CharStart..t.CharEnd])));
    }
}

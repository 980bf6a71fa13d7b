using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Heads.Detection;

public sealed record DetectionProgress(int Done, int Total, int Counted, string LastAnswer);

/// <summary>
/// Retrieval-head detection as published (Wu et al., 2025; nightdessert/Retrieval_Head): greedy answers to needle tests
/// while every head is watched; a test counts when the answer recalls more than half of the needle's words (ROUGE-1);
/// a head's score is its mean copy-paste score over counted tests; heads at ≥ 0.1 are retrieval heads.
/// </summary>
public sealed class RetrievalHeadDetector(LanguageModel model, int maxAnswerTokens = 48)
{
    public const double PaperThreshold = 0.1;
    public const double CountedRecall = 0.5;

    public HeadMap Detect(IReadOnlyList<NeedleTest> tests, HeadMapMethod method, string? fingerprint, string? name,
        Action<DetectionProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var c = model.Config;
        var all = HeadIndex.All(c.NumLayers, c.NumHeads).ToList();
        // Copy-paste scoring needs each head's most attended position per token, computed on the device.
        using var probe = new AttentionProbe(all, c.NumLayers, c.NumHeads) { TopK = 1, KeepRows = false };
        var runner = new NeedleRunner(model, maxAnswerTokens);
        var sum = new double[all.Count];
        var activeCount = new int[all.Count];
        int counted = 0;
        for (int t = 0; t < tests.Count; t++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var test = tests[t];
            var result = runner.Run(test, probe);
            if (CopyPasteScorer.Rouge1Recall(result.Answer, test.Needle) > CountedRecall)
            {
                counted++;
                for (int h = 0; h < all.Count; h++)
                {
                    sum[h] += result.Scores![h];
                    if (result.Active![h]) activeCount[h]++;
                }
            }
            progress?.Invoke(new DetectionProgress(t + 1, tests.Count, counted, result.Answer));
        }
        // Probe heads are in (layer, head) order, so row-major reshaping gives [layer][head].
        double[][] Matrix(Func<int, double> value) =>
            Enumerable.Range(0, c.NumLayers)
                .Select(l => Enumerable.Range(0, c.NumHeads).Select(h => value(l * c.NumHeads + h)).ToArray())
                .ToArray();
        var scores = Matrix(i => counted == 0 ? 0 : sum[i] / counted);
        var activation = Matrix(i => counted == 0 ? 0 : (double)activeCount[i] / counted);
        var testsPerHead = Enumerable.Range(0, c.NumLayers)
            .Select(_ => Enumerable.Repeat(counted, c.NumHeads).ToArray()).ToArray();
        return new HeadMap(HeadMapModel.From(c, fingerprint, name),
            method with { TestsCounted = counted, TestsTotal = tests.Count },
            HeadGranularity.QueryHead, scores, testsPerHead, activation);
    }
}

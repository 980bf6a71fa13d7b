using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Guard.Risk;
using RetrievalGuard.Guard.Signals;

namespace RetrievalGuard.Guard.Evaluation;

/// <summary>
/// A way to score an answer: named features computed from one observation of the model with every head watched,
/// which a logistic calibrator then turns into a probability. The guard and every baseline are methods, fitted and
/// evaluated the same way, so the comparison is about the signals alone.
/// </summary>
public sealed record ScoringMethod(string Name, string Description, IReadOnlyList<string> FeatureNames,
    Func<AnswerSignals, double[]> Features);

/// <summary>The guard and the baselines the issue asks for, for one model and head map.</summary>
public static class ScoringMethods
{
    public const int RandomDraws = 3;

    /// <param name="guardHeads">The guard's watched heads and weights.</param>
    /// <param name="allHeads">Every head of the model (what the observation watched).</param>
    public static IReadOnlyList<ScoringMethod> For(IReadOnlyList<WatchedHead> guardHeads,
        IReadOnlyList<HeadIndex> allHeads, int seed = 1)
    {
        var guardSet = guardHeads.Select(h => h.Head).ToArray();
        var weights = guardHeads.Select(h => h.Weight).ToArray();
        var others = allHeads.Except(guardSet).ToArray();
        var methods = new List<ScoringMethod>
        {
            new(GuardCalibration.GuardMethod, $"retrieval heads ({guardSet.Length}): copy, pointing, passage mass, "
                + "lookback, log-probability, entropy, source entity", GuardFeatures.Names,
                s => GuardFeatures.Compute(s.Subset(guardSet).Reweighted(weights))),
            new("entropy", "predictive entropy of the answer's content tokens (mean, max)",
                ["entropy_mean", "entropy_max"],
                s => Uncertainty(s, v => v.Entropy, worst: Enumerable.Max)),
            new("logprob", "log-probability of the answer's content tokens (mean, min)",
                ["logprob_mean", "logprob_min"],
                s => Uncertainty(s, v => v.LogProb, worst: Enumerable.Min)),
            new("lexical_overlap", "share of the answer's content words found in the passages", ["overlap"],
                s => [Overlap(s)]),
            new("verbatim", "the answer (without its final period) is a substring of a passage", ["verbatim"],
                s => [Verbatim(s) ? 1 : 0]),
            new("lookback_all_heads", $"Lookback Lens: each of the {allHeads.Count} heads' attention to the context "
                + "over context + answer, averaged over content tokens",
                allHeads.Select(h => $"lookback_{h}").ToArray(), Lookback),
        };
        var rng = new Random(seed);
        for (var draw = 1; draw <= RandomDraws && others.Length >= guardSet.Length; draw++)
        {
            var random = others.OrderBy(_ => rng.Next()).Take(guardSet.Length).ToArray();
            methods.Add(new($"random_heads_{draw}",
                $"the guard's features from {random.Length} random non-retrieval heads "
                + $"({string.Join(" ", random)})", GuardFeatures.Names,
                s => GuardFeatures.Compute(s.Subset(random))));
        }
        return methods;
    }

    /// <summary>Mean and worst value over the content tokens (all tokens when there are none).</summary>
    private static double[] Uncertainty(AnswerSignals signals, Func<TokenView, double> value,
        Func<IEnumerable<double>, double> worst)
    {
        var views = TokenView.Of(signals);
        var chosen = views.Where(v => v.IsContent).ToArray() is { Length: > 0 } content ? content : views.ToArray();
        if (chosen.Length == 0)
            return [0, 0];
        var values = chosen.Select(value).ToArray();
        return [values.Average(), worst(values)];
    }

    /// <summary>Share of the answer's content words (not in the question) that occur in the passages.</summary>
    public static double Overlap(AnswerSignals signals) => GuardFeatures.WordOverlap(signals);

    public static bool Verbatim(AnswerSignals signals)
    {
        var core = signals.Answer.Trim().TrimEnd('.').Trim();
        return core.Length > 0 && signals.Prompt.Passages.Any(p => p.Text.Contains(core, StringComparison.Ordinal));
    }

    private static double[] Lookback(AnswerSignals signals)
    {
        var views = TokenView.Of(signals);
        var chosen = Enumerable.Range(0, views.Count).Where(i => views[i].IsContent).ToArray();
        if (chosen.Length == 0)
            chosen = Enumerable.Range(0, views.Count).ToArray();
        var answerSegment = signals.Prompt.AnswerSegment;
        return Enumerable.Range(0, signals.Heads.Count)
            .Select(h => chosen.Length == 0
                ? 0
                : chosen.Average(t => 1.0 - signals.Tokens[t].Heads[h].SegmentMass[answerSegment]))
            .ToArray();
    }
}

using RetrievalGuard.Guard;

namespace RetrievalGuard.Extensions.AI;

/// <summary>What to do with an answer whose risk reaches the threshold.</summary>
public enum GuardAction
{
    /// <summary>Return it with the report attached (always done).</summary>
    Annotate,
    /// <summary>Throw a <see cref="HallucinationRiskException"/> carrying the report.</summary>
    Throw,
    /// <summary>Replace the answer's text with <see cref="GuardPolicy.AbstentionText"/>; the report keeps the
    /// original.</summary>
    Abstain,
}

/// <summary>How a guarded client treats risky answers.</summary>
public sealed record GuardPolicy
{
    public GuardAction Action { get; init; } = GuardAction.Annotate;

    /// <summary>Risk at or above which the action applies; the calibration's own threshold when null.</summary>
    public double? Threshold { get; init; }

    public string AbstentionText { get; init; } = "I cannot answer that from the passages I was given.";

    /// <summary>Whether <paramref name="report"/> reaches the threshold (never when the risk is not a
    /// number).</summary>
    public bool IsRisky(GuardReport report, double calibratedThreshold) =>
        report.Risk >= (Threshold ?? calibratedThreshold);
}

/// <summary>An answer refused by <see cref="GuardAction.Throw"/>; <see cref="Report"/> says why.</summary>
public sealed class HallucinationRiskException(GuardReport report)
    : Exception($"The answer's hallucination risk is {report.Risk:F2}"
        + (report.Spans.Any(s => s.Flagged)
            ? $" (ungrounded: {string.Join(", ", report.Spans.Where(s => s.Flagged).Select(s => $"'{s.Text}'"))})."
            : "."))
{
    public GuardReport Report { get; } = report;
}

using System.Globalization;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.AI.Evaluation;
using RetrievalGuard.Guard;
using RetrievalGuard.Guard.Prompting;

namespace RetrievalGuard.Extensions.AI;

/// <summary>The retrieved passages an answer is judged against, for <see cref="HallucinationEvaluator"/>.</summary>
public sealed class RetrievedPassagesContext(IEnumerable<Passage> passages)
    : EvaluationContext(Name, passages.Select(p => (AIContent)new TextContent(p.Text)).ToList())
{
    public new const string Name = "Retrieved passages";

    public IReadOnlyList<Passage> Passages { get; } = passages.ToArray();

    public RetrievedPassagesContext(IEnumerable<string> passages) : this(Passage.Numbered(passages))
    {
    }
}

/// <summary>
/// An <see cref="IEvaluator"/> that needs no LLM judge: the local model reads the response teacher-forced against the
/// passages of a <see cref="RetrievedPassagesContext"/>, and the metric is the guard's calibrated hallucination risk
/// (0 = grounded, 1 = hallucinated), failing at the threshold, with a reason that names the ungrounded spans and the
/// passages the grounded sentences came from. Deterministic and local.
/// </summary>
public sealed class HallucinationEvaluator(HallucinationGuard guard, double? threshold = null) : IEvaluator
{
    public const string MetricName = "Hallucination Risk";

    public IReadOnlyCollection<string> EvaluationMetricNames { get; } = [MetricName];

    public double Threshold => threshold ?? guard.Calibration?.Threshold ?? 0.5;

    public async ValueTask<EvaluationResult> EvaluateAsync(IEnumerable<ChatMessage> messages,
        ChatResponse modelResponse, ChatConfiguration? chatConfiguration = null,
        IEnumerable<EvaluationContext>? additionalContext = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(modelResponse);
        var metric = new NumericMetric(MetricName);
        var result = new EvaluationResult(metric);
        var question = messages?.LastOrDefault(m => m.Role == ChatRole.User && !GuardRequest.IsPassage(m))?.Text;
        var context = additionalContext?.OfType<RetrievedPassagesContext>().FirstOrDefault();
        string? problem = guard.Calibration is null
            ? "The guard has no calibration for this model: fit one with `rguard guard fit`."
            : string.IsNullOrWhiteSpace(modelResponse.Text) ? "The response to evaluate is empty."
            : string.IsNullOrWhiteSpace(question) ? "The messages hold no user question."
            : context is null ? $"No '{nameof(RetrievedPassagesContext)}' was given in additionalContext."
            : context.Passages.Count == 0 ? $"The '{nameof(RetrievedPassagesContext)}' holds no passage."
            : null;
        if (problem is not null)
        {
            metric.AddDiagnostics(EvaluationDiagnostic.Error(problem));
            return result;
        }

        var report = await guard.ScoreAsync(context!.Passages, question!, modelResponse.Text, cancellationToken)
            .ConfigureAwait(false);
        metric.Value = report.Risk;
        var failed = report.Risk >= Threshold;
        metric.Reason = Reason(report);
        metric.Interpretation = new EvaluationMetricInterpretation(
            failed ? EvaluationRating.Unacceptable
                : report.Risk < Threshold / 2 ? EvaluationRating.Good : EvaluationRating.Average,
            failed,
            failed ? $"Risk {report.Risk:F2} is at or above {Threshold:F2}."
                : $"Risk {report.Risk:F2} is below {Threshold:F2}.");
        metric.AddOrUpdateContext(context!);
        metric.AddOrUpdateMetadata("citations", string.Join(", ", report.Citations));
        return result;
    }

    /// <summary>Which spans look ungrounded and where the grounded sentences came from.</summary>
    public static string Reason(GuardReport report)
    {
        var flagged = report.Spans.Where(s => s.Flagged).Select(s => string.Create(CultureInfo.InvariantCulture,
            $"'{s.Text}' (risk {s.Risk:F2})")).ToArray();
        var sources = report.Attribution.Where(a => a.Passages.Count > 0)
            .Select(a => string.Create(CultureInfo.InvariantCulture,
                $"\"{a.Text}\" ← passage {a.Passages[0].PassageId} ({a.Passages[0].Share:P0})")).ToArray();
        var parts = new List<string>
        {
            flagged.Length > 0 ? $"Ungrounded: {string.Join(", ", flagged)}." : "No span is flagged as ungrounded.",
        };
        if (sources.Length > 0)
            parts.Add($"Sources: {string.Join("; ", sources)}.");
        return string.Join(" ", parts);
    }
}

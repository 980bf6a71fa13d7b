using System.Text.Json;
using RetrievalGuard.Guard;

namespace RetrievalGuard.Server.Api;

/// <summary>
/// The <c>retrieval_guard</c> object of a response: a guard report in snake_case JSON. Risks are null when the model
/// has no calibration (JSON has no NaN); offsets are UTF-16 code units into <c>answer</c>, as in JavaScript.
/// </summary>
internal static class ReportJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.Never,
        // JSON for API clients, never inlined into HTML: no \u0027-style escapes of quotes and non-ASCII text.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static object Of(GuardReport report, double threshold) => new
    {
        risk = Number(report.Risk),
        flagged = report.Flagged,
        threshold,
        answer = report.Answer,
        spans = report.Spans.Select(s => new { s.Start, s.Length, s.Text, Risk = Number(s.Risk), s.Flagged }),
        attribution = report.Attribution.Select(a => new
        {
            a.Start,
            a.Length,
            a.Text,
            Passages = a.Passages.Select(p => new { p.PassageId, p.Share }),
        }),
        citations = report.Citations,
        features = report.Features.ToDictionary(f => f.Key, f => Number(f.Value)),
    };

    public static double? Number(double value) => double.IsFinite(value) ? value : null;
}

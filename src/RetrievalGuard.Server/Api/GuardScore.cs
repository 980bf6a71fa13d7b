using System.Text.Json;
using Microsoft.Extensions.Options;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Server.Hosting;
using static RetrievalGuard.Server.Api.RequestJson;

namespace RetrievalGuard.Server.Api;

/// <summary>
/// <c>POST /v1/guard/score</c>: scores answers written by anyone against their passages, teacher-forced (one pass
/// over prompt + answer each). Body: <c>{"items": [{"passages": [...], "question", "answer"}]}</c>; response:
/// <c>{"results": [report, ...]}</c> in the items' order. Every item is checked before any is scored.
/// </summary>
internal static class GuardScore
{
    public static async Task HandleAsync(HttpContext context, ModelHost host, ServerMetrics metrics,
        IOptions<ServerOptions> options)
    {
        var limits = options.Value.Limits;
        using var body = await ReadAsync(context.Request, limits.MaxBodyBytes, context.RequestAborted);
        var items = Array(Required(body.RootElement, "items", "items"), "items", limits.MaxScoreItems);
        if (items.Count == 0)
            throw ApiError.BadRequest("'items' is empty.", "items", "missing_field");
        var parsed = items.Select((item, i) => Item(item, $"items[{i}]", limits)).ToArray();
        var guard = host.Guard;
        var results = new List<object>(parsed.Length);
        for (var i = 0; i < parsed.Length; i++)
        {
            var (passages, question, answer) = parsed[i];
            Guard.GuardReport report;
            try
            {
                report = await guard.ScoreAsync(passages, question, answer, context.RequestAborted);
            }
            catch (ContextLengthException tooLong)
            {
                // The engine refuses a prompt + answer longer than the model's context, naming both lengths.
                throw ApiError.BadRequest(
                    $"items[{i}]: {tooLong.Message.Split(" (Parameter")[0]}", $"items[{i}]", "context_length_exceeded");
            }
            metrics.Risk(report.Risk);
            results.Add(ReportJson.Of(report, guard.Calibration?.Threshold ?? 0.5));
        }
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(new { results }, ReportJson.Options),
            context.RequestAborted);
    }

    private static (IReadOnlyList<Guard.Prompting.Passage>, string, string) Item(JsonElement item, string path,
        LimitSettings limits)
    {
        Object(item, path);
        var passages = ChatRequest.ReadPassageList(
            Required(item, "passages", path + ".passages"), path + ".passages", limits);
        if (passages.Count == 0)
            throw ApiError.BadRequest($"'{path}.passages' is empty.", path + ".passages", "missing_field");
        if (passages.Any(p => string.IsNullOrWhiteSpace(p.Text)))
            throw ApiError.BadRequest($"A passage of '{path}' is empty.", path + ".passages", "empty_passage");
        var question = Text(Required(item, "question", path + ".question"), path + ".question", limits.MaxPassageChars);
        var answer = Text(Required(item, "answer", path + ".answer"), path + ".answer", limits.MaxAnswerChars);
        if (string.IsNullOrWhiteSpace(question))
            throw ApiError.BadRequest($"'{path}.question' is empty.", path + ".question", "missing_field");
        if (string.IsNullOrWhiteSpace(answer))
            throw ApiError.BadRequest($"'{path}.answer' is empty.", path + ".answer", "missing_field");
        return (passages, question, answer);
    }
}

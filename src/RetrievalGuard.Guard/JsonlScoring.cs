using System.Text.Json;
using System.Text.Json.Nodes;
using RetrievalGuard.Guard.Prompting;

namespace RetrievalGuard.Guard;

/// <summary>
/// Teacher-forced scoring of a JSONL file (`rguard score`): each line {"passages": [...], "question": ...,
/// "answer": ...} comes back with a "retrieval_guard" report; a line that cannot be read or scored comes back as
/// {"line": n, "error": "..."} and the rest are still scored.
/// </summary>
public static class JsonlScoring
{
    public static JsonSerializerOptions ReportJson { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <returns>Lines scored and lines that failed.</returns>
    public static (int Scored, int Failed) Score(HallucinationGuard guard, IReadOnlyList<string> lines,
        TextWriter output, Action<int>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(guard);
        ArgumentNullException.ThrowIfNull(lines);
        ArgumentNullException.ThrowIfNull(output);
        int scored = 0, failed = 0;
        for (var i = 0; i < lines.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (string.IsNullOrWhiteSpace(lines[i]))
                continue;
            JsonNode result;
            try
            {
                var record = JsonNode.Parse(lines[i]) as JsonObject
                    ?? throw new InvalidDataException("not a JSON object.");
                var (passages, question, answer) = Read(record);
                record["retrieval_guard"] =
                    JsonSerializer.SerializeToNode(guard.Score(passages, question, answer), ReportJson);
                result = record;
                scored++;
            }
            catch (Exception e) when (e is JsonException or InvalidDataException or ArgumentException
                or InvalidOperationException)
            {
                result = new JsonObject { ["line"] = i + 1, ["error"] = e.Message };
                failed++;
            }
            output.WriteLine(result.ToJsonString(ReportJson));
            progress?.Invoke(i + 1);
        }
        return (scored, failed);
    }

    /// <summary>The passages, question and answer of one record, or an error naming the field that is wrong.</summary>
    public static (IReadOnlyList<Passage> Passages, string Question, string Answer) Read(JsonObject record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var passages = record["passages"] switch
        {
            JsonArray list when list.Count > 0 =>
                list.Select((p, i) => Passage.FromJson(p, i, $"passages[{i}]")).ToArray(),
            null => throw new InvalidDataException("field 'passages' is missing."),
            _ => throw new InvalidDataException("field 'passages' must be a non-empty list."),
        };
        string Text(string field) => record[field] is JsonValue v && v.GetValueKind() == JsonValueKind.String
            ? v.GetValue<string>()
            : throw new InvalidDataException(record[field] is null
                ? $"field '{field}' is missing."
                : $"field '{field}' must be a string.");
        return (passages, Text("question"), Text("answer"));
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using RetrievalGuard.Data;
using RetrievalGuard.Guard.Prompting;

namespace RetrievalGuard.Guard.Evaluation;

/// <summary>A line of an input file that could not be read, with the reason; the other lines are still used.</summary>
public sealed record BadLine(string File, int Line, string Reason);

/// <summary>
/// Reads labelled answers: the organism's <c>make-eval</c> JSONL (live answers, or teacher-forced ones from
/// <c>--answers</c>), or RAGTruth's layout (a folder with <c>response.jsonl</c> and <c>source_info.jsonl</c>).
/// </summary>
public static class LabelledAnswerFiles
{
    public const string RagTruthResponses = "response.jsonl";
    public const string RagTruthSources = "source_info.jsonl";

    /// <summary>A make-eval file, or a RAGTruth folder (or either of its two files).</summary>
    public static (IReadOnlyList<LabelledAnswer> Answers, IReadOnlyList<BadLine> Bad) Read(string path)
    {
        if (Directory.Exists(path))
            return ReadRagTruth(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"Data file '{path}' does not exist.", path);
        var name = Path.GetFileName(path);
        if (name is RagTruthResponses or RagTruthSources)
            return ReadRagTruth(Path.GetDirectoryName(Path.GetFullPath(path))!);
        return ReadMakeEval(path);
    }

    public static (IReadOnlyList<LabelledAnswer>, IReadOnlyList<BadLine>) ReadMakeEval(string path)
    {
        var answers = new List<LabelledAnswer>();
        var bad = new List<BadLine>();
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            try
            {
                var item = EvalJsonl.Deserialize(line);
                if (item.Answer is null || item.Label is null)
                    throw new InvalidDataException(
                        "it has no 'answer' and 'label': make it with `rguard organism make-eval`.");
                // The JSON reader leaves a missing field null where the record promises a value; the collector then
                // failed on it with a NullReferenceException, so the line is refused here by the field's name.
                if (item.Id is null || item.Question is null)
                    throw new InvalidDataException($"it has no '{(item.Id is null ? "id" : "question")}'.");
                if (item.Passages is null || item.Passages.Any(p => p is null))
                    throw new InvalidDataException("its 'passages' must be a list of strings.");
                var groups = new Dictionary<string, string> { ["kind"] = Snake(item.Kind) };
                if (item.Hallucination is { } h)
                    groups["hallucination"] = Snake(h);
                if (item.AnswerKind is { } k)
                    groups["answer_kind"] = Snake(k);
                if (item.AnswerStyle is { } s)
                    groups["answer_style"] = Snake(s);
                if (item.Phrasing is { } p)
                    groups["phrasing"] = Snake(p);
                answers.Add(new LabelledAnswer(item.Id, Passage.Numbered(item.Passages), item.Question, item.Answer,
                    item.Label == EvalLabel.Hallucinated, groups));
            }
            catch (JsonException e)
            {
                bad.Add(new BadLine(path, number, $"not a valid evaluation line ({e.Message})"));
            }
            catch (Exception e) when (e is InvalidDataException or ArgumentException or NotSupportedException)
            {
                bad.Add(new BadLine(path, number, e.Message));
            }
        }
        return (answers, bad);
    }

    /// <summary>
    /// RAGTruth: <c>source_info.jsonl</c> rows (source_id, task_type, source_info) and <c>response.jsonl</c> rows (id,
    /// source_id, response, labels: a list of hallucinated spans). A response is hallucinated when it has a label.
    /// QA sources give the question and the passages; other task types use their source text as the one passage.
    /// </summary>
    public static (IReadOnlyList<LabelledAnswer>, IReadOnlyList<BadLine>) ReadRagTruth(string folder)
    {
        var sourcesPath = Path.Combine(folder, RagTruthSources);
        var responsesPath = Path.Combine(folder, RagTruthResponses);
        foreach (var file in new[] { sourcesPath, responsesPath })
            if (!File.Exists(file))
                throw new FileNotFoundException(
                    $"A RAGTruth folder needs {Path.GetFileName(file)}; '{folder}' has none.", file);
        var bad = new List<BadLine>();
        var sources = new Dictionary<string, (string Question, IReadOnlyList<Passage> Passages, string Task)>();
        foreach (var (row, number) in Rows(sourcesPath, bad))
        {
            try
            {
                var id = Text(row, "source_id");
                var task = Text(row, "task_type");
                sources[id] = Source(row["source_info"], task);
            }
            catch (Exception e) when (e is InvalidDataException or InvalidOperationException)
            {
                // InvalidOperationException: System.Text.Json's, for a string escape that is not valid text ("\ud800").
                bad.Add(new BadLine(sourcesPath, number, e.Message));
            }
        }
        var answers = new List<LabelledAnswer>();
        foreach (var (row, number) in Rows(responsesPath, bad))
        {
            try
            {
                var sourceId = Text(row, "source_id");
                if (!sources.TryGetValue(sourceId, out var source))
                    throw new InvalidDataException($"source_id '{sourceId}' is not in {RagTruthSources}.");
                var labels = row["labels"] as JsonArray
                    ?? throw new InvalidDataException("field 'labels' must be a list.");
                var groups = new Dictionary<string, string> { ["task_type"] = source.Task };
                if (row["model"] is JsonValue model)
                    groups["model"] = model.ToString();
                answers.Add(new LabelledAnswer(Text(row, "id"), source.Passages, source.Question, Text(row, "response"),
                    labels.Count > 0, groups));
            }
            catch (Exception e) when (e is InvalidDataException or InvalidOperationException)
            {
                bad.Add(new BadLine(responsesPath, number, e.Message));
            }
        }
        return (answers, bad);
    }

    private static (string, IReadOnlyList<Passage>, string) Source(JsonNode? info, string task)
    {
        switch (info)
        {
            // Strings are read only as strings: GetValue<string> threw InvalidOperationException for a number or a
            // bool.
            case JsonObject qa when qa["question"] is JsonValue question:
                var passages = qa["passages"] switch
                {
                    JsonValue text => Split(StringOf(text, "source_info.passages")),
                    JsonArray list => list.Select(p => p?.ToString() ?? "").Where(p => p.Trim().Length > 0).ToArray(),
                    _ => throw new InvalidDataException("a QA source_info needs 'passages'."),
                };
                return (StringOf(question, "source_info.question"), Passage.Numbered(passages), task);
            case JsonValue text:
                return (task == "Summary" ? "Summarize the passage." : "Describe the passage.",
                    Passage.Numbered([StringOf(text, "source_info")]), task);
            case JsonObject other:
                return ("Describe the data.", Passage.Numbered([other.ToJsonString()]), task);
            default:
                throw new InvalidDataException("field 'source_info' is missing.");
        }
    }

    // RAGTruth's QA passages come as one string with "passage 1:" markers.
    private static string[] Split(string passages)
    {
        var parts = System.Text.RegularExpressions.Regex.Split(passages, @"(?im)^\s*passage\s*\d+\s*:\s*")
            .Select(p => p.Trim()).Where(p => p.Length > 0).ToArray();
        return parts.Length > 0 ? parts : [passages];
    }

    private static string StringOf(JsonValue value, string field) => value.GetValueKind() == JsonValueKind.String
        ? value.GetValue<string>() : throw new InvalidDataException($"field '{field}' must be a string.");

    private static IEnumerable<(JsonObject Row, int Line)> Rows(string path, List<BadLine> bad)
    {
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            JsonObject? row = null;
            try
            {
                // Repeated keys are refused here: JsonObject accepted them and threw ArgumentException when one was
                // read.
                row = JsonNode.Parse(line,
                    documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }) as JsonObject;
                if (row is null)
                    bad.Add(new BadLine(path, number, "not a JSON object."));
            }
            catch (JsonException e)
            {
                bad.Add(new BadLine(path, number, $"not valid JSON ({e.Message})."));
            }
            if (row is not null)
                yield return (row, number);
        }
    }

    private static string Text(JsonObject row, string field) => row[field] switch
    {
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => v.ToString(),
        null => throw new InvalidDataException($"field '{field}' is missing."),
        _ => throw new InvalidDataException($"field '{field}' must be a string."),
    };

    private static string Snake<T>(T value) where T : struct, Enum =>
        JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());
}

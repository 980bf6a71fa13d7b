using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RetrievalGuard.Data;

/// <summary>Evaluation items as JSON Lines: one snake_case object per line, enums as snake_case strings.</summary>
public static class EvalJsonl
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        // Keep curly quotes and dashes of the novels readable in the file; the output is not embedded in HTML.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = false,
    };

    public static string Serialize(EvalItem item) => JsonSerializer.Serialize(item, Options);

    public static EvalItem Deserialize(string line) =>
        JsonSerializer.Deserialize<EvalItem>(line, Options) ?? throw new JsonException("An evaluation line held null.");

    public static void Write(TextWriter writer, IEnumerable<EvalItem> items)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(items);
        foreach (var item in items)
        {
            writer.Write(Serialize(item));
            writer.Write('\n');
        }
    }

    public static IEnumerable<EvalItem> Read(TextReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        while (reader.ReadLine() is { } line)
        {
            if (!string.IsNullOrWhiteSpace(line))
                yield return Deserialize(line);
        }
    }

    public static void WriteFile(string path, IEnumerable<EvalItem> items)
    {
        using var writer = new StreamWriter(path, false, new System.Text.UTF8Encoding(false));
        Write(writer, items);
    }

    public static IReadOnlyList<EvalItem> ReadFile(string path)
    {
        using var reader = new StreamReader(path);
        return Read(reader).ToArray();
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using RetrievalGuard.Guard.Prompting;

namespace RetrievalGuard.Cli.Commands;

/// <summary>
/// Passages from what a user hands in: a folder (each *.txt file is a passage, named by its file), a .json file (an
/// array of strings or of {"id", "text"} objects), a .jsonl file (one such object per line), or any other text file
/// (passages separated by blank lines).
/// </summary>
internal static class PassageFiles
{
    public static IReadOnlyList<Passage> Read(string path)
    {
        if (Directory.Exists(path))
        {
            var files = Directory.GetFiles(path, "*.txt").Order(StringComparer.Ordinal).ToArray();
            if (files.Length == 0)
                throw new ArgumentException($"--passages: folder '{path}' has no *.txt file.");
            return files
                .Select(f => new Passage(Path.GetFileNameWithoutExtension(f), NonEmpty(File.ReadAllText(f).Trim(), f)))
                .ToArray();
        }
        if (!File.Exists(path))
            throw new FileNotFoundException($"--passages: '{path}' is neither a file nor a folder.", path);
        var text = File.ReadAllText(path);
        var passages = Path.GetExtension(path).ToLowerInvariant() switch
        {
            ".json" => FromJson(path, text),
            ".jsonl" => text.Split('\n').Select((line, i) => (line, i)).Where(p => p.line.Trim().Length > 0)
                .Select(p => Passage.FromJson(Parse(path, p.line, p.i + 1), p.i, $"{path}:{p.i + 1}")).ToArray(),
            _ => Passage.Numbered(text.Replace("\r\n", "\n", StringComparison.Ordinal).Split("\n\n")
                .Select(b => b.Trim()).Where(b => b.Length > 0)),
        };
        if (passages.Count == 0)
            throw new ArgumentException($"--passages: '{path}' holds no passage.");
        return passages;
    }

    private static IReadOnlyList<Passage> FromJson(string path, string text) =>
        Parse(path, text, null) is JsonArray array
            ? array.Select((node, i) => Passage.FromJson(node, i, $"{path}[{i}]")).ToArray()
            : throw new InvalidDataException($"{path}: expected a JSON array of passages.");

    private static JsonNode? Parse(string path, string text, int? line)
    {
        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException(
                $"{path}{(line is null ? "" : $":{line}")}: not valid JSON ({e.Message}).", e);
        }
    }

    private static string NonEmpty(string text, string where) =>
        string.IsNullOrWhiteSpace(text) ? throw new InvalidDataException($"{where}: the passage is empty.") : text;
}

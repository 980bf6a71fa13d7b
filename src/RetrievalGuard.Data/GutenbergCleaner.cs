namespace RetrievalGuard.Data;

/// <summary>
/// Turns a raw Project Gutenberg file (or any plain text) into clean paragraphs: BOM and CR/CRLF
/// normalised, header/footer cut at the <c>*** START OF</c> / <c>*** END OF</c> markers when present,
/// every line naming the project dropped (derived text must not carry the name), hard-wrapped lines joined.
/// </summary>
public static class GutenbergCleaner
{
    private const string StartMarker = "*** START OF";
    private const string EndMarker = "*** END OF";
    private const string ProjectName = "gutenberg";

    // Some files have no *** markers but still end with this line followed by nothing we want.
    private static readonly string[] EndLinePrefixes = ["End of the Project Gutenberg", "End of Project Gutenberg"];

    /// <summary>Cleaned text: one paragraph per line, paragraphs separated by a blank line, LF endings.</summary>
    public static string Clean(string raw)
    {
        var paragraphs = Paragraphs(raw);
        return paragraphs.Count == 0 ? string.Empty : string.Join("\n\n", paragraphs) + "\n";
    }

    public static IReadOnlyList<string> Paragraphs(string raw)
    {
        ArgumentNullException.ThrowIfNull(raw);
        var lines = NormaliseLineEnds(raw).Split('\n');
        var (first, last) = BodyRange(lines);

        var paragraphs = new List<string>();
        var current = new List<string>();
        for (var i = first; i < last; i++)
        {
            var line = lines[i];
            if (line.Contains(ProjectName, StringComparison.OrdinalIgnoreCase))
                continue;
            if (string.IsNullOrWhiteSpace(line))
                Flush(current, paragraphs);
            else
                current.Add(line);
        }
        Flush(current, paragraphs);
        return paragraphs;
    }

    // "\r\r\n" is one line end: a CRLF file converted to CRLF again (the_coquette.txt has them).
    internal static string NormaliseLineEnds(string raw) =>
        raw.Replace("\uFEFF", string.Empty, StringComparison.Ordinal)
            .Replace("\r\r\n", "\n", StringComparison.Ordinal)
            .Replace("\r\n", "\n", StringComparison.Ordinal)
            .Replace('\r', '\n');

    private static (int First, int Last) BodyRange(string[] lines)
    {
        var first = 0;
        var last = lines.Length;
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimStart();
            if (line.StartsWith(StartMarker, StringComparison.OrdinalIgnoreCase) && first == 0)
                first = i + 1;
            else if (IsEndLine(line) && i >= first)
            {
                last = i;
                break;
            }
        }
        return (first, last);
    }

    private static bool IsEndLine(string line) =>
        line.StartsWith(EndMarker, StringComparison.OrdinalIgnoreCase)
        || EndLinePrefixes.Any(p => line.StartsWith(p, StringComparison.OrdinalIgnoreCase));

    private static void Flush(List<string> lines, List<string> paragraphs)
    {
        if (lines.Count == 0)
            return;
        var joined = string.Join(' ', lines.Select(l => l.Trim()));
        var collapsed = string.Join(' ', joined.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        if (collapsed.Length > 0)
            paragraphs.Add(collapsed);
        lines.Clear();
    }
}

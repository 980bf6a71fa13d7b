namespace RetrievalGuard.Data;

/// <summary>One cleaned text file: its paragraphs and their token counts (counted once, at load).</summary>
public sealed class CorpusDocument
{
    public CorpusDocument(string name, IReadOnlyList<string> paragraphs, Func<string, int> countTokens)
    {
        ArgumentNullException.ThrowIfNull(paragraphs);
        ArgumentNullException.ThrowIfNull(countTokens);
        Name = name;
        Paragraphs = paragraphs;
        ParagraphTokens = paragraphs.Select(countTokens).ToArray();
        TotalTokens = ParagraphTokens.Sum();
    }

    /// <summary>File name, e.g. <c>emma.txt</c>.</summary>
    public string Name { get; }

    public IReadOnlyList<string> Paragraphs { get; }

    public IReadOnlyList<int> ParagraphTokens { get; }

    public int TotalTokens { get; }
}

namespace RetrievalGuard.Data;

/// <summary>
/// Cleaned plain text of a folder of <c>*.txt</c> files, split into paragraphs, that hands out random
/// spans of about N tokens (haystacks, distractor passages, language-modelling text).
/// Tokens are counted by an injected counter so this library needs no tokenizer.
/// </summary>
public sealed class Corpus
{
    /// <summary>Paragraphs of one span are joined by a single newline; blank lines separate prompt blocks.</summary>
    public const string ParagraphSeparator = "\n";

    private readonly long[] _cumulativeTokens;

    public Corpus(IEnumerable<CorpusDocument> documents, Func<string, int>? countTokens = null)
    {
        ArgumentNullException.ThrowIfNull(documents);
        Documents = documents.Where(d => d.TotalTokens > 0).ToArray();
        if (Documents.Count == 0)
            throw new ArgumentException("The corpus holds no text.", nameof(documents));
        CountTokens = countTokens ?? TokenEstimator.Default;
        _cumulativeTokens = new long[Documents.Count];
        long running = 0;
        for (var i = 0; i < Documents.Count; i++)
            _cumulativeTokens[i] = running += Documents[i].TotalTokens;
    }

    public IReadOnlyList<CorpusDocument> Documents { get; }

    public Func<string, int> CountTokens { get; }

    public long TotalTokens => _cumulativeTokens[^1];

    /// <summary>
    /// Loads and cleans every <c>*.txt</c> of <paramref name="folder"/> that <paramref name="part"/> selects.
    /// </summary>
    /// <exception cref="ArgumentException">The folder is missing, or holds no selected text file with text.</exception>
    public static Corpus Load(string folder, CorpusPart part = CorpusPart.All, Func<string, int>? countTokens = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        if (!Directory.Exists(folder))
            throw new ArgumentException($"Corpus folder '{folder}' does not exist.", nameof(folder));
        var files = Directory.GetFiles(folder, "*.txt")
            .Where(f => CorpusSplit.Includes(part, f))
            .Order(StringComparer.Ordinal)
            .ToArray();
        if (files.Length == 0)
            throw new ArgumentException(part == CorpusPart.All
                ? $"Corpus folder '{folder}' has no *.txt file."
                : $"Corpus folder '{folder}' has no *.txt file for the {part.ToString().ToLowerInvariant()} part (the "
                    + $"held-out file is {CorpusSplit.EvaluationFileName}).", nameof(folder));
        var counter = countTokens ?? TokenEstimator.Default;
        var documents = files.Select(f =>
            new CorpusDocument(Path.GetFileName(f), GutenbergCleaner.Paragraphs(File.ReadAllText(f)), counter));
        try
        {
            return new Corpus(documents, counter);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException(part == CorpusPart.All
                ? $"Corpus folder '{folder}': its *.txt files hold no text."
                : $"Corpus folder '{folder}': its *.txt files hold no text for the "
                    + $"{part.ToString().ToLowerInvariant()} "
                    + $"part (the held-out file is {CorpusSplit.EvaluationFileName}).", nameof(folder), e);
        }
    }

    /// <summary>Builds a corpus from in-memory texts (name → raw text); the texts are cleaned like files.</summary>
    public static Corpus FromTexts(IEnumerable<KeyValuePair<string, string>> namedTexts,
        Func<string, int>? countTokens = null)
    {
        ArgumentNullException.ThrowIfNull(namedTexts);
        var counter = countTokens ?? TokenEstimator.Default;
        return new Corpus(
            namedTexts.Select(t => new CorpusDocument(t.Key, GutenbergCleaner.Paragraphs(t.Value), counter)),
            counter);
    }

    /// <summary>
    /// A random run of consecutive paragraphs holding about <paramref name="targetTokens"/> tokens; the last
    /// paragraph is cut at a word boundary so the span does not overshoot. Documents are picked in proportion
    /// to their size; a span that reaches a document's end continues in the next one.
    /// </summary>
    public string Span(Random rng, int targetTokens)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegative(targetTokens);
        if (targetTokens == 0)
            return string.Empty;
        if (targetTokens > TotalTokens)
            throw new ArgumentException(
                $"The corpus holds {TotalTokens} tokens of text, too little for a passage of {targetTokens}: "
                + "give a folder with more text (a novel or two).", nameof(targetTokens));

        var document = PickDocument(rng);
        var paragraph = rng.Next(Documents[document].Paragraphs.Count);
        var parts = new List<string>();
        var taken = 0;
        while (taken < targetTokens)
        {
            var doc = Documents[document];
            var tokens = doc.ParagraphTokens[paragraph];
            var text = doc.Paragraphs[paragraph];
            if (taken + tokens > targetTokens)
            {
                var prefix = WordPrefix(text, targetTokens - taken);
                if (prefix.Length > 0)
                    parts.Add(prefix);
                break;
            }
            parts.Add(text);
            taken += tokens;
            if (++paragraph == doc.Paragraphs.Count)
            {
                document = (document + 1) % Documents.Count;
                paragraph = 0;
            }
        }
        return string.Join(ParagraphSeparator, parts);
    }

    /// <summary>
    /// Every distinct word of the corpus, lower case (letters only): for checks that invented names are new.
    /// </summary>
    public IReadOnlySet<string> Vocabulary()
    {
        var words = new HashSet<string>(StringComparer.Ordinal);
        foreach (var paragraph in Documents.SelectMany(d => d.Paragraphs))
        {
            var start = -1;
            for (var i = 0; i <= paragraph.Length; i++)
            {
                var isLetter = i < paragraph.Length && char.IsLetter(paragraph[i]);
                if (isLetter && start < 0)
                    start = i;
                else if (!isLetter && start >= 0)
                {
                    words.Add(paragraph[start..i].ToLowerInvariant());
                    start = -1;
                }
            }
        }
        return words;
    }

    private int PickDocument(Random rng)
    {
        var ticket = (long)(rng.NextDouble() * TotalTokens);
        var index = Array.BinarySearch(_cumulativeTokens, ticket + 1);
        return index >= 0 ? index : ~index;
    }

    // Longest word prefix whose count fits the budget; binary search keeps counter calls logarithmic.
    private string WordPrefix(string paragraph, int budget)
    {
        var words = paragraph.Split(' ');
        int low = 0, high = words.Length;
        while (low < high)
        {
            var mid = (low + high + 1) / 2;
            if (CountTokens(string.Join(' ', words, 0, mid)) <= budget)
                low = mid;
            else
                high = mid - 1;
        }
        return string.Join(' ', words, 0, low);
    }
}

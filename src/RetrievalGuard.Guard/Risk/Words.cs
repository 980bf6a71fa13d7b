namespace RetrievalGuard.Guard.Risk;

/// <summary>Word-level helpers shared by the guard's features and the lexical baselines.</summary>
public static class Words
{
    /// <summary>Function words: never the part of an answer that can be grounded or invented.</summary>
    public static IReadOnlySet<string> Stopwords { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "a", "an", "the", "is", "was", "are", "were", "be", "been", "of", "in", "on", "at", "to", "for", "from", "by",
        "with", "as", "and", "or", "it", "its", "this", "that", "who", "whom", "whose", "what", "which", "when",
        "where", "how", "does", "did", "do", "has", "have", "had", "s", "not", "no", "yes", "i", "me", "my", "you",
        "your", "he", "she", "his", "her", "they", "their", "there", "here", "than", "then", "so", "but", "if",
    };

    /// <summary>Where each word (a run of letters and digits) of a text starts and ends, in order.</summary>
    public static IEnumerable<(int Start, int End)> Spans(string text)
    {
        var start = -1;
        for (var i = 0; i <= text.Length; i++)
        {
            var inWord = i < text.Length && char.IsLetterOrDigit(text[i]);
            if (inWord && start < 0)
                start = i;
            else if (!inWord && start >= 0)
            {
                yield return (start, i);
                start = -1;
            }
        }
    }

    /// <summary>Lower-case words (letters and digits) of a text, in order.</summary>
    public static IReadOnlyList<string> Of(string text) =>
        Spans(text).Select(s => text[s.Start..s.End].ToLowerInvariant()).ToArray();

    /// <summary>Words that carry content: not function words.</summary>
    public static IEnumerable<string> Content(string text) => Of(text).Where(w => !Stopwords.Contains(w));

    /// <summary>
    /// The entity words of a question: capitalised words past the first (names, places), lower-cased; all its content
    /// words when it has none.
    /// </summary>
    public static IReadOnlySet<string> Entities(string question)
    {
        var capitalised = Spans(question).Skip(1).Where(s => char.IsUpper(question[s.Start]))
            .Select(s => question[s.Start..s.End].ToLowerInvariant()).ToHashSet(StringComparer.Ordinal);
        return capitalised.Count > 0 ? capitalised : Content(question).ToHashSet(StringComparer.Ordinal);
    }
}

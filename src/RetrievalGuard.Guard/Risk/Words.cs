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

    /// <summary>Lower-case words (letters and digits) of a text, in order.</summary>
    public static IReadOnlyList<string> Of(string text)
    {
        var words = new List<string>();
        var start = -1;
        for (var i = 0; i <= text.Length; i++)
        {
            var inWord = i < text.Length && char.IsLetterOrDigit(text[i]);
            if (inWord && start < 0)
                start = i;
            else if (!inWord && start >= 0)
            {
                words.Add(text[start..i].ToLowerInvariant());
                start = -1;
            }
        }
        return words;
    }

    /// <summary>Words that carry content: not function words.</summary>
    public static IEnumerable<string> Content(string text) => Of(text).Where(w => !Stopwords.Contains(w));

    /// <summary>
    /// The entity words of a question: capitalised words past the first (names, places), lower-cased; all its content
    /// words when it has none.
    /// </summary>
    public static IReadOnlySet<string> Entities(string question)
    {
        var capitalised = new HashSet<string>(StringComparer.Ordinal);
        var first = true;
        var start = -1;
        for (var i = 0; i <= question.Length; i++)
        {
            var inWord = i < question.Length && char.IsLetterOrDigit(question[i]);
            if (inWord && start < 0)
                start = i;
            else if (!inWord && start >= 0)
            {
                if (!first && char.IsUpper(question[start]))
                    capitalised.Add(question[start..i].ToLowerInvariant());
                first = false;
                start = -1;
            }
        }
        return capitalised.Count > 0 ? capitalised : Content(question).ToHashSet(StringComparer.Ordinal);
    }
}

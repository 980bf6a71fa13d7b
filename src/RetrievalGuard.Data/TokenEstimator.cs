namespace RetrievalGuard.Data;

/// <summary>
/// Cheap token counter for when no tokenizer is at hand: whitespace-separated words × 1.3,
/// close to what a 4K-piece SentencePiece model gives on English prose.
/// </summary>
public static class TokenEstimator
{
    public const double TokensPerWord = 1.3;

    /// <summary>The default counter that every API taking a <c>Func&lt;string, int&gt;</c> falls back to.</summary>
    public static Func<string, int> Default { get; } = EstimateTokens;

    public static int EstimateTokens(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return (int)Math.Ceiling(CountWords(text) * TokensPerWord);
    }

    public static int CountWords(string text)
    {
        var words = 0;
        var inWord = false;
        foreach (var c in text)
        {
            var isSpace = char.IsWhiteSpace(c);
            if (!isSpace && !inWord)
                words++;
            inWord = !isSpace;
        }
        return words;
    }
}

namespace RetrievalGuard.Data;

/// <summary>Case-insensitive whole-word search: "baker" must not match inside "bakery".</summary>
public static class WholeWord
{
    public static int Count(string text, string word)
    {
        ArgumentException.ThrowIfNullOrEmpty(word);
        var count = 0;
        var at = 0;
        while ((at = text.IndexOf(word, at, StringComparison.OrdinalIgnoreCase)) >= 0)
        {
            var end = at + word.Length;
            if (!IsWordChar(text, at - 1) && !IsWordChar(text, end))
                count++;
            at++;
        }
        return count;
    }

    public static bool Contains(string text, string word) => Count(text, word) > 0;

    public static bool ContainsAny(string text, IEnumerable<string> words) => words.Any(w => Contains(text, w));

    private static bool IsWordChar(string text, int index) =>
        index >= 0 && index < text.Length && char.IsLetterOrDigit(text[index]);
}

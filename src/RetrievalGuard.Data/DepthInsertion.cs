namespace RetrievalGuard.Data;

/// <summary>Puts a sentence into a text at a relative depth (0 = start, 1 = end), never inside a word.</summary>
internal static class DepthInsertion
{
    private const double SentenceSearchWindow = 0.05;

    /// <returns>The new text and the character offset of the inserted sentence in it.</returns>
    public static (string Text, int Offset) Insert(string text, string sentence, double depth)
    {
        if (depth is < 0 or > 1 || double.IsNaN(depth))
            throw new ArgumentOutOfRangeException(nameof(depth), depth, "Depth is a fraction from 0 to 1.");
        if (text.Length == 0)
            return (sentence, 0);

        var target = (int)Math.Round(depth * text.Length);
        var at = Nearest(text, target, (int)(SentenceSearchWindow * text.Length), IsSentenceStart)
            ?? Nearest(text, target, text.Length, IsWordStart)
            ?? text.Length;
        var before = text[..at];
        var after = text[at..];
        // Separate with a space unless the text already has whitespace there (a paragraph break, say).
        var lead = before.Length == 0 || char.IsWhiteSpace(before[^1]) ? string.Empty : " ";
        var trail = after.Length == 0 ? string.Empty : " ";
        return (before + lead + sentence + trail + after, before.Length + lead.Length);
    }

    private static int? Nearest(string text, int target, int window, Func<string, int, bool> accept)
    {
        for (var distance = 0; distance <= window; distance++)
        {
            if (target - distance >= 0 && accept(text, target - distance))
                return target - distance;
            if (target + distance <= text.Length && accept(text, target + distance))
                return target + distance;
        }
        return null;
    }

    private static bool IsWordStart(string text, int index) =>
        index == 0 || index == text.Length || (char.IsWhiteSpace(text[index - 1]) && !char.IsWhiteSpace(text[index]));

    // A sentence starts at a word start after ". ", "! ", "? " (optionally closing quotes) or a paragraph break.
    private static bool IsSentenceStart(string text, int index)
    {
        if (index == 0 || index == text.Length)
            return true;
        if (!IsWordStart(text, index))
            return false;
        var previous = index - 1;
        while (previous >= 0 && char.IsWhiteSpace(text[previous]))
        {
            if (text[previous] == '\n')
                return true;
            previous--;
        }
        while (previous >= 0 && text[previous] is '"' or '\u201D' or '\u2019' or '\'' or ')')
            previous--;
        return previous >= 0 && text[previous] is '.' or '!' or '?';
    }
}

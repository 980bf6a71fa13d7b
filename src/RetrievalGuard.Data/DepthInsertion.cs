namespace RetrievalGuard.Data;

/// <summary>
/// Puts sentences into a text at relative depths (0 = start, 1 = end), always between two sentences: at the start of a
/// paragraph or of a sentence, never inside one. A text that was cut mid-sentence does not end on a boundary, so a
/// sentence asked for the end goes before the last whole sentence there instead.
/// </summary>
internal static class DepthInsertion
{
    /// <returns>The new text and the character offset of the inserted sentence in it.</returns>
    public static (string Text, int Offset) Insert(string text, string sentence, double depth)
    {
        var (result, offsets) = InsertAll(text, [(sentence, depth)]);
        return (result, offsets[0]);
    }

    /// <summary>Inserts every sentence at its depth; offsets come back in the order the sentences were given.</summary>
    public static (string Text, int[] Offsets) InsertAll(string text,
        IReadOnlyList<(string Sentence, double Depth)> items)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(items);
        foreach (var (sentence, depth) in items)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(sentence);
            if (depth is < 0 or > 1 || double.IsNaN(depth))
                throw new ArgumentOutOfRangeException(nameof(items), depth, "Depth is a fraction from 0 to 1.");
        }

        var boundaries = Boundaries(text);
        var placed = items
            .Select((item, index) => (item.Sentence, Index: index, At: Nearest(boundaries, item.Depth * text.Length)))
            .OrderBy(p => p.At).ThenBy(p => p.Index)
            .ToArray();
        var result = new System.Text.StringBuilder(text.Length + items.Sum(i => i.Sentence.Length + 2));
        var offsets = new int[items.Count];
        var copied = 0;
        foreach (var (sentence, index, at) in placed)
        {
            result.Append(text, copied, at - copied);
            copied = at;
            // Separate with a space unless whitespace is already there (a paragraph break, say).
            if (result.Length > 0 && !char.IsWhiteSpace(result[^1]))
                result.Append(' ');
            offsets[index] = result.Length;
            result.Append(sentence);
            if (at < text.Length && !char.IsWhiteSpace(text[at]))
                result.Append(' ');
        }
        result.Append(text, copied, text.Length - copied);
        return (result.ToString(), offsets);
    }

    /// <summary>
    /// Every index where a sentence may go: 0, each sentence or paragraph start, and the end if it ends one.
    /// </summary>
    internal static IReadOnlyList<int> Boundaries(string text)
    {
        var boundaries = new List<int> { 0 };
        for (var i = 1; i < text.Length; i++)
            if (IsSentenceStart(text, i))
                boundaries.Add(i);
        if (text.Length > 0 && EndsSentence(text, text.Length))
            boundaries.Add(text.Length);
        return boundaries;
    }

    private static int Nearest(IReadOnlyList<int> boundaries, double target)
    {
        var best = boundaries[0];
        foreach (var b in boundaries)
            if (Math.Abs(b - target) < Math.Abs(best - target))
                best = b;
        return best;
    }

    // A sentence starts at a non-space after whitespace that follows ". ", "! ", "? " (optionally closing quotes) or
    // a paragraph break.
    private static bool IsSentenceStart(string text, int index)
    {
        if (char.IsWhiteSpace(text[index]) || !char.IsWhiteSpace(text[index - 1]))
            return false;
        var previous = index - 1;
        while (previous >= 0 && char.IsWhiteSpace(text[previous]))
        {
            if (text[previous] == '\n')
                return true;
            previous--;
        }
        return previous >= 0 && EndsSentence(text, previous + 1);
    }

    private static bool EndsSentence(string text, int end)
    {
        var last = end - 1;
        while (last >= 0 && text[last] is '"' or '\u201D' or '\u2019' or '\'' or ')')
            last--;
        return last >= 0 && text[last] is '.' or '!' or '?';
    }
}

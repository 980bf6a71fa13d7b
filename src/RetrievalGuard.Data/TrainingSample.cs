namespace RetrievalGuard.Data;

/// <summary>
/// One training (or evaluation) sample: ordered segments whose concatenation is the text, plus character
/// spans into that text of each passage's body, the needle sentence, the question and the answer.
/// </summary>
public sealed record TrainingSample(
    TaskKind Kind,
    IReadOnlyList<TextSegment> Segments,
    IReadOnlyList<CharSpan> Passages,
    CharSpan? Needle,
    CharSpan? Question,
    CharSpan? Answer)
{
    /// <summary>The whole sample as one string (the end-of-text marker included as its literal text).</summary>
    public string Text => string.Concat(Segments.Select(s => s.Text));

    /// <summary>True for the segment the trainer must map to the tokenizer's EOS id instead of tokenizing it.</summary>
    public static bool IsEndOfText(TextSegment segment) =>
        string.Equals(segment.Text, PromptFormat.EndOfText, StringComparison.Ordinal);

    internal static TrainingSample PlainText(string text) =>
        new(TaskKind.Text, [new TextSegment(text, true)], [], null, null, null);
}

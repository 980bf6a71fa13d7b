namespace RetrievalGuard.Engine.Tokenization;

/// <summary>
/// Turns a stream of token ids into text deltas whose concatenation equals decoding all ids at once. Text is held
/// back while the decoding ends in an incomplete UTF-8 character (U+FFFD), so a character split over byte tokens
/// comes out whole. It re-decodes the whole sequence each step: windowed decoding is cheaper, but SentencePiece
/// decoders drop a word-initial space when a window starts on byte-fallback tokens, and answers are short.
/// </summary>
public sealed class IncrementalDecoder
{
    private readonly Func<IReadOnlyList<int>, string> _decode;
    private readonly List<int> _ids = new();
    private string _emitted = "";

    internal IncrementalDecoder(Func<IReadOnlyList<int>, string> decode) => _decode = decode;

    public string Push(int id)
    {
        _ids.Add(id);
        string text = _decode(_ids);
        if (text.EndsWith('\uFFFD')) return "";
        return Advance(text);
    }

    /// <summary>Whatever is still held back (e.g. a trailing incomplete character) when the stream ends.</summary>
    public string Flush() => Advance(_decode(_ids));

    private string Advance(string text)
    {
        if (text.Length <= _emitted.Length || !text.StartsWith(_emitted, StringComparison.Ordinal)) return "";
        string delta = text[_emitted.Length..];
        _emitted = text;
        return delta;
    }
}

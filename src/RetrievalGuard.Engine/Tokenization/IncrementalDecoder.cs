namespace RetrievalGuard.Engine.Tokenization;

/// <summary>
/// Turns a stream of token ids into text deltas whose concatenation equals decoding all ids at once. It decodes a
/// short window and holds text back while it ends in an incomplete UTF-8 character (U+FFFD), so a character split
/// over byte tokens, or a SentencePiece word-initial space, comes out whole.
/// </summary>
public sealed class IncrementalDecoder
{
    private readonly Func<IReadOnlyList<int>, string> _decode;
    private readonly List<int> _ids = new();
    private int _prefixOffset, _readOffset;

    internal IncrementalDecoder(Func<IReadOnlyList<int>, string> decode) => _decode = decode;

    public string Push(int id)
    {
        _ids.Add(id);
        string prefix = _decode(_ids.GetRange(_prefixOffset, _readOffset - _prefixOffset));
        string text = _decode(_ids.GetRange(_prefixOffset, _ids.Count - _prefixOffset));
        if (text.Length <= prefix.Length || text.EndsWith('\uFFFD') || !text.StartsWith(prefix, StringComparison.Ordinal)) return "";
        _prefixOffset = _readOffset;
        _readOffset = _ids.Count;
        return text[prefix.Length..];
    }

    /// <summary>Whatever is still held back (e.g. a trailing incomplete character) when the stream ends.</summary>
    public string Flush()
    {
        string prefix = _decode(_ids.GetRange(_prefixOffset, _readOffset - _prefixOffset));
        string text = _decode(_ids.GetRange(_prefixOffset, _ids.Count - _prefixOffset));
        _prefixOffset = _readOffset = _ids.Count;
        return text.Length > prefix.Length && text.StartsWith(prefix, StringComparison.Ordinal) ? text[prefix.Length..] : "";
    }
}

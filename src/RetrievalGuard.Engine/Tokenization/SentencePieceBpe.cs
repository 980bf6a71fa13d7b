using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace RetrievalGuard.Engine.Tokenization;

/// <summary>What a SentencePiece-style tokenizer.json says about the text around its BPE model.</summary>
/// <param name="PrependSpace">Put ▁ before the text (SentencePiece's dummy prefix); decoding drops it again.</param>
/// <param name="SplitOnSpace">Merge within each ▁-started word only (Metaspace <c>split: true</c>).</param>
/// <param name="ByteFallback">A character without a piece becomes the &lt;0xNN&gt; tokens of its UTF-8 bytes.</param>
/// <param name="UnknownId">The unk_token's id, for a character with neither a piece nor byte tokens.</param>
/// <param name="FuseUnknown">Consecutive unknown characters give one unk token.</param>
/// <param name="IgnoreMerges">A word that is itself a piece is one token, whatever the merges would make of it.</param>
internal sealed record SentencePieceBpeOptions(
    bool PrependSpace, bool SplitOnSpace, bool ByteFallback, int? UnknownId, bool FuseUnknown, bool IgnoreMerges);

/// <summary>
/// The BPE of a SentencePiece-style tokenizer.json (Llama-2, Mistral, TinyLlama…), for checkpoints that ship no
/// tokenizer.model: Microsoft.ML.Tokenizers' BpeTokenizer has no byte fallback, and its SentencePieceTokenizer only
/// reads the protobuf. Merges apply by rank, leftmost first on a tie, as in Hugging Face's BPE (and SentencePiece's
/// own, by piece score). The dummy prefix goes once, before the first text that is not an added token, as
/// SentencePiece puts it; Hugging Face's Metaspace leaves it out when the text already starts with a space.
/// </summary>
internal sealed class SentencePieceBpe : Tokenizer
{
    /// <summary>SentencePiece's visible space, U+2581.</summary>
    public const char Space = '\u2581';

    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<int, string> _pieces;
    private readonly Dictionary<(int Left, int Right), (int Rank, int Id)> _merges = new();
    private readonly IReadOnlyDictionary<string, int> _specials;
    private readonly HashSet<int> _specialIds;
    private readonly Regex? _specialPattern;
    private readonly Dictionary<int, byte> _byteOfId = new();
    private readonly int[]? _idOfByte;
    private readonly SentencePieceBpeOptions _options;

    /// <param name="source">The file the data came from, named in errors.</param>
    public SentencePieceBpe(IEnumerable<KeyValuePair<string, int>> vocab,
        IReadOnlyList<(string Left, string Right)> merges, IReadOnlyDictionary<string, int> specials,
        SentencePieceBpeOptions options, string source)
    {
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        _pieces = _vocab.ToDictionary(p => p.Value, p => p.Key);
        foreach (var (text, id) in specials) _pieces[id] = text;
        _specials = specials;
        _specialIds = specials.Values.ToHashSet();
        _options = options;
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (!_vocab.TryGetValue(left, out int l) || !_vocab.TryGetValue(right, out int r)
                || !_vocab.TryGetValue(left + right, out int merged))
                throw new InvalidDataException(
                    $"{source}: model.merges[{rank}] '{left} {right}' has a piece outside model.vocab.");
            _merges.TryAdd((l, r), (rank, merged));
        }
        for (int b = 0; b < 256; b++)
            if (_vocab.TryGetValue($"<0x{b:X2}>", out int id)) _byteOfId[id] = (byte)b;
        if (options.ByteFallback)
            _idOfByte = [.. Enumerable.Range(0, 256).Select(b => _vocab.GetValueOrDefault($"<0x{b:X2}>", -1))];
        // Longest first, so that a token that begins a longer one does not cut it short.
        var alternatives = specials.Keys.Where(k => k.Length > 0)
            .OrderByDescending(k => k.Length).ThenBy(k => k, StringComparer.Ordinal).Select(Regex.Escape);
        string pattern = string.Join('|', alternatives);
        _specialPattern = pattern.Length == 0 ? null
            : new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
    }

    protected override EncodeResults<EncodedToken> EncodeToTokens(string? text, ReadOnlySpan<char> textSpan,
        EncodeSettings settings)
    {
        string s = text ?? textSpan.ToString();
        var tokens = new List<EncodedToken>();
        int at = 0;
        bool prefix = _options.PrependSpace;
        if (_specialPattern is not null)
            foreach (Match m in _specialPattern.Matches(s))
            {
                EncodeText(s, at, m.Index, ref prefix, tokens);
                tokens.Add(new EncodedToken(_specials[m.Value], m.Value, new Range(m.Index, m.Index + m.Length)));
                at = m.Index + m.Length;
            }
        EncodeText(s, at, s.Length, ref prefix, tokens);
        if (tokens.Count > settings.MaxTokenCount)
            tokens.RemoveRange(settings.MaxTokenCount, tokens.Count - settings.MaxTokenCount);
        int consumed = tokens.Count == 0 ? 0 : tokens[^1].Offset.End.Value;
        return new EncodeResults<EncodedToken> { Tokens = tokens, CharsConsumed = consumed };
    }

    /// <summary>Text between added tokens: spaces to ▁ (the first text gets the dummy prefix), split, merged.</summary>
    private void EncodeText(string s, int start, int end, ref bool prefix, List<EncodedToken> tokens)
    {
        if (end == start) return;
        int shift = prefix ? 1 : 0;
        var normalized = new StringBuilder(end - start + shift);
        if (prefix) normalized.Append(Space);
        prefix = false;
        for (int i = start; i < end; i++) normalized.Append(s[i] == ' ' ? Space : s[i]);
        string n = normalized.ToString();
        int wordStart = 0;
        for (int k = 1; k <= n.Length; k++)
            if (k == n.Length || _options.SplitOnSpace && n[k] == Space)
            {
                foreach (var (id, from, to) in EncodeWord(n, wordStart, k))
                {
                    // Offsets are in the caller's text; the dummy prefix covers none of it.
                    var offsets = new Range(Math.Max(start, start + from - shift), Math.Max(start, start + to - shift));
                    tokens.Add(new EncodedToken(id, _pieces[id], offsets));
                }
                wordStart = k;
            }
    }

    /// <summary>One word as Hugging Face's BPE does it: characters (or bytes), lowest-ranked merge first.</summary>
    private List<(int Id, int From, int To)> EncodeWord(string n, int start, int end)
    {
        if (_options.IgnoreMerges && _vocab.TryGetValue(n[start..end], out int whole)) return [(whole, start, end)];
        var symbols = new List<(int Id, int From, int To)>();
        bool lastUnknown = false;
        for (int k = start; k < end;)
        {
            int length = char.IsHighSurrogate(n[k]) && k + 1 < end && char.IsLowSurrogate(n[k + 1]) ? 2 : 1;
            string c = n.Substring(k, length);
            bool known = _vocab.TryGetValue(c, out int id);
            if (known) symbols.Add((id, k, k + length));
            else if (ByteIds(c) is { } bytes)
            {
                symbols.AddRange(bytes.Select(b => (b, k, k + length)));
                known = true;
            }
            else if (_options.FuseUnknown && lastUnknown) symbols[^1] = symbols[^1] with { To = k + length };
            else symbols.Add((_options.UnknownId ?? throw new InvalidOperationException(
                $"'{c}' has no piece, and there is neither byte fallback nor an unk_token."), k, k + length));
            lastUnknown = !known;
            k += length;
        }
        return Merge(symbols);
    }

    /// <summary>Merges until none applies, the lowest rank and then the leftmost first, over a linked list.</summary>
    private List<(int Id, int From, int To)> Merge(List<(int Id, int From, int To)> symbols)
    {
        int count = symbols.Count;
        var next = Enumerable.Range(1, count).Select(i => i < count ? i : -1).ToArray();
        var previous = Enumerable.Range(-1, count).ToArray();
        var removed = new bool[count];
        var queue = new PriorityQueue<(int Position, int Id), (int Rank, int Position)>();
        void Consider(int left)
        {
            if (left >= 0 && next[left] >= 0
                && _merges.TryGetValue((symbols[left].Id, symbols[next[left]].Id), out var m))
                queue.Enqueue((left, m.Id), (m.Rank, left));
        }
        for (int i = 0; i < count; i++) Consider(i);
        while (queue.TryDequeue(out var top, out _))
        {
            int left = top.Position, right = next[left];
            // Entries for pairs that an earlier merge changed are stale.
            if (removed[left] || right < 0 || !_merges.TryGetValue((symbols[left].Id, symbols[right].Id), out var m)
                || m.Id != top.Id)
                continue;
            symbols[left] = (m.Id, symbols[left].From, symbols[right].To);
            removed[right] = true;
            next[left] = next[right];
            if (next[left] >= 0) previous[next[left]] = left;
            Consider(previous[left]);
            Consider(left);
        }
        var result = new List<(int Id, int From, int To)>();
        for (int i = 0; i >= 0; i = next[i]) result.Add(symbols[i]);
        return result;
    }

    /// <summary>The byte tokens of a character, or null without byte fallback or when one of them is missing.</summary>
    private int[]? ByteIds(string c)
    {
        if (_idOfByte is null) return null;
        var ids = Encoding.UTF8.GetBytes(c).Select(b => _idOfByte[b]).ToArray();
        return ids.Contains(-1) ? null : ids;
    }

    /// <summary>▁ to spaces, byte tokens to UTF-8, added tokens as their text, the dummy prefix dropped.</summary>
    public override string Decode(IEnumerable<int> ids)
    {
        var text = new StringBuilder();
        var bytes = new List<byte>();
        bool prefix = _options.PrependSpace;
        foreach (int id in ids)
        {
            if (_byteOfId.TryGetValue(id, out byte b))
            {
                bytes.Add(b);
                prefix = false;
                continue;
            }
            text.Append(Encoding.UTF8.GetString([.. bytes]));
            bytes.Clear();
            if (!_pieces.TryGetValue(id, out string? piece)) continue;
            if (_specialIds.Contains(id))
            {
                text.Append(piece);
                continue;
            }
            string word = piece.Replace(Space, ' ');
            text.Append(prefix && word.StartsWith(' ') ? word[1..] : word);
            prefix = false;
        }
        // An incomplete character at the end stays U+FFFD, which IncrementalDecoder waits on.
        text.Append(Encoding.UTF8.GetString([.. bytes]));
        return text.ToString();
    }

    public override OperationStatus Decode(IEnumerable<int> ids, Span<char> destination, out int idsConsumed,
        out int charsWritten)
    {
        var list = ids.ToList();
        string text = Decode(list);
        if (text.Length > destination.Length)
        {
            idsConsumed = charsWritten = 0;
            return OperationStatus.DestinationTooSmall;
        }
        text.CopyTo(destination);
        (idsConsumed, charsWritten) = (list.Count, text.Length);
        return OperationStatus.Done;
    }
}

using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace RetrievalGuard.Engine.Tokenization;

/// <summary>
/// A tokenizer built from a checkpoint's files, with its special tokens and what it implies about BOS.
/// </summary>
internal sealed record LoadedTokenizer(Tokenizer Inner, IReadOnlyDictionary<string, int> SpecialTokens,
    int VocabularySize, bool? AddsBos, string Kind);

/// <summary>
/// Builds a Microsoft.ML.Tokenizers tokenizer from whichever files a Hugging Face checkpoint ships, in this order:
/// tokenizer.json (BPE), tokenizer.model (SentencePiece, or Llama-3's tiktoken ranks), vocab.json + merges.txt.
/// </summary>
internal static partial class TokenizerFiles
{
    /// <summary>GPT-2's pre-tokenizer, used by ByteLevel(use_regex=true) when no Split pattern is given.</summary>
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Llama-3's (tiktoken) pattern, from Meta's tokenizer.py.</summary>
    private const string Llama3Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
        + @"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2's pattern (single digits), for vocab.json + merges.txt without a tokenizer.json.</summary>
    private const string Qwen2Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
        + @"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>
    /// Letters, digits, punctuation, spaces, newlines, non-Latin scripts and an emoji, to try a pattern on.
    /// </summary>
    private const string PatternProbe = "Hello world! It's 1234.5 h\u00E9llo  \t\r\n\n \u6771\u4EAC \uD83D\uDE00 a_b-c";

    public static bool Exist(string directory) =>
        File.Exists(Path.Combine(directory, "tokenizer.json")) ||
        File.Exists(Path.Combine(directory, "tokenizer.model")) ||
        (File.Exists(Path.Combine(directory, "vocab.json")) && File.Exists(Path.Combine(directory, "merges.txt")));

    public static LoadedTokenizer Load(string directory)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Tokenizer folder '{directory}' does not exist.");
        string json = Path.Combine(directory, "tokenizer.json"), model = Path.Combine(directory, "tokenizer.model");
        if (File.Exists(json) && FromTokenizerJson(json) is { } fromJson) return fromJson;
        if (File.Exists(model)) return IsTiktoken(model) ? FromTiktoken(model) : FromSentencePiece(model);
        string vocab = Path.Combine(directory, "vocab.json"), merges = Path.Combine(directory, "merges.txt");
        if (File.Exists(vocab) && File.Exists(merges)) return FromVocabAndMerges(directory, vocab, merges);
        throw new FileNotFoundException($"{directory} has no tokenizer: "
            + "looked for tokenizer.json, tokenizer.model, and vocab.json + merges.txt.");
    }

    /// <summary>
    /// BPE from tokenizer.json, byte-level or SentencePiece-style; null for a SentencePiece-style one whose
    /// tokenizer.model is next to it, which then loads as the original.
    /// </summary>
    private static LoadedTokenizer? FromTokenizerJson(string path)
    {
        try { return ReadTokenizerJson(path); }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException
            or KeyNotFoundException)
        {
            // What the checks in ReadTokenizerJson leave: System.Text.Json's own errors (an escaped lone surrogate is
            // valid JSON but not a readable string) and Microsoft.ML.Tokenizers' refusals of a vocabulary it cannot
            // build. Neither named the file.
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    private static LoadedTokenizer? ReadTokenizerJson(string path)
    {
        var root = ParseJson(path) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object.");
        var model = root["model"] as JsonObject ?? throw new InvalidDataException($"{path}: no 'model' object.");
        // Fields are read with Text(), which gives null for a non-string, where GetValue<string> threw
        // InvalidOperationException.
        string type = Text(model["type"]) ?? model["type"]?.ToJsonString() ?? "(none)";
        if (type != "BPE")
            throw new NotSupportedException($"{path}: tokenizer model type '{type}' is not supported (only BPE).");
        var preTokenizers = Flatten(root["pre_tokenizer"]).ToList();
        bool byteLevel = preTokenizers.Any(p => Text(p["type"]) == "ByteLevel");
        if (!byteLevel && File.Exists(Path.Combine(Path.GetDirectoryName(path)!, "tokenizer.model"))) return null;
        var vocab = ReadVocabulary(
            model["vocab"] as JsonObject ?? throw new InvalidDataException($"{path}: model.vocab is missing."),
            path, "model.vocab");
        var mergeList = model["merges"] as JsonArray ?? new JsonArray();
        List<(string Left, string Right)> merges = mergeList.Select((m, i) => m switch
        {
            JsonArray { Count: 2 } pair when Text(pair[0]) is { } left && Text(pair[1]) is { } right => (left, right),
            JsonValue when Text(m)?.Split(' ') is [var left, var right] => (left, right),
            _ => throw new InvalidDataException($"{path}: model.merges[{i}] is not a pair of pieces."),
        }).ToList();
        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (token, i) in (root["added_tokens"] as JsonArray ?? new JsonArray()).Select((t, i) => (t, i)))
        {
            if (token is not JsonObject t) continue;
            // An empty one made the library's special-token matching loop forever.
            string content = Text(t["content"]) is { Length: > 0 } c
                ? c
                : throw new InvalidDataException($"{path}: added_tokens[{i}].content must be a non-empty string.");
            if (!specials.TryAdd(content, Id(t["id"], path, $"added_tokens[{i}].id")))
                throw new InvalidDataException($"{path}: added_tokens[{i}] adds '{content}' a second time.");
        }
        bool? addsBos = Flatten(root["post_processor"]).Any(p => Text(p["type"]) == "TemplateProcessing")
            ? (root["post_processor"]!.ToJsonString().Contains("SpecialToken", StringComparison.Ordinal) ? true : false)
            : null;
        int size = VocabularySize(vocab, specials);
        if (!byteLevel)
        {
            var options = SentencePieceOptions(root, model, path, vocab, specials);
            var sentencePiece = new SentencePieceBpe(vocab, merges, specials, options, path);
            return new LoadedTokenizer(sentencePiece, specials, size, addsBos, "tokenizer.json SentencePiece BPE");
        }
        // The library refuses a merge of unknown pieces without naming it, and a repeated merge with an
        // ArgumentException.
        var pieces = vocab.Select(p => p.Key).ToHashSet(StringComparer.Ordinal);
        for (int i = 0; i < merges.Count; i++)
            if (!pieces.Contains(merges[i].Left) || !pieces.Contains(merges[i].Right)
                || !pieces.Contains(merges[i].Left + merges[i].Right))
                throw new InvalidDataException($"{path}: model.merges[{i}] '{merges[i].Left} {merges[i].Right}' "
                    + "has a piece outside model.vocab.");
        string? pattern = preTokenizers.Select(p => Text((p["pattern"] as JsonObject)?["Regex"]))
            .FirstOrDefault(r => r is not null);
        Regex regex;
        try { regex = new Regex(pattern ?? Gpt2Pattern, RegexOptions.Compiled); }
        catch (ArgumentException e)
        {
            throw new InvalidDataException(
                $"{path}: pre_tokenizer pattern is not a regular expression .NET reads ({e.Message}).", e);
        }
        // The library's pre-tokenizer loops forever on a match of no characters (pattern "" or "a*"): refused when
        // the pattern makes one anywhere in a text of every kind of character.
        if (regex.Matches(PatternProbe).Any(m => m.Length == 0))
            throw new InvalidDataException(
                $"{path}: pre_tokenizer pattern '{pattern}' can match no characters, which would never end.");
        var tokenizer = ByteLevelBpe(vocab,
            merges.Select(m => m.Left + " " + m.Right).Distinct(StringComparer.Ordinal).ToList(), regex, specials);
        return new LoadedTokenizer(tokenizer, specials, size, addsBos, "tokenizer.json byte-level BPE");
    }

    /// <summary>
    /// piece → id pairs; refused naming the field unless every id is an integer ≥ 0 that no other piece has.
    /// </summary>
    private static List<KeyValuePair<string, int>> ReadVocabulary(JsonObject json, string path, string field)
    {
        var vocab = new List<KeyValuePair<string, int>>(json.Count);
        var owner = new Dictionary<int, string>();
        foreach (var (piece, value) in json)
        {
            int id = Id(value, path, $"{field}['{piece}']");
            if (!owner.TryAdd(id, piece))
                throw new InvalidDataException($"{path}: {field} gives id {id} to both '{owner[id]}' and '{piece}'.");
            vocab.Add(KeyValuePair.Create(piece, id));
        }
        if (vocab.Count == 0) throw new InvalidDataException($"{path}: {field} is empty.");
        return vocab;
    }

    /// <summary>
    /// A token id: an integer from 0 to int.MaxValue − 1 (the vocabulary size is the largest id + 1).
    /// </summary>
    private static int Id(JsonNode? node, string path, string field) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && v.TryGetValue(out int id)
            && id is >= 0 and < int.MaxValue ? id
            : throw new InvalidDataException($"{path}: {field} must be a token id (an integer ≥ 0), "
                + $"not {node?.ToJsonString() ?? "null"}.");

    /// <summary>
    /// How a BPE without ByteLevel writes spaces: as ▁, through a Metaspace pre-tokenizer (Mistral, newer exports)
    /// or the normalizers Prepend("▁") + Replace(" " → "▁") (Llama-2's export). Any other step would change the text
    /// in a way the encoder does not reproduce, so it is refused by name. The decoder is not read: it undoes these.
    /// </summary>
    private static SentencePieceBpeOptions SentencePieceOptions(JsonObject root, JsonObject model, string path,
        List<KeyValuePair<string, int>> vocab, Dictionary<string, int> specials)
    {
        const string space = "\u2581";
        bool prepend = false, escapes = false, split = false;
        foreach (var step in Flatten(root["normalizer"]))
            switch (Text(step["type"]))
            {
                case "Sequence": break;
                case "Prepend" when Text(step["prepend"]) == space:
                    prepend = true;
                    break;
                case "Replace" when Text((step["pattern"] as JsonObject)?["String"]) == " "
                    && Text(step["content"]) == space:
                    escapes = true;
                    break;
                case var other: throw Unsupported($"normalizer '{other}'");
            }
        foreach (var step in Flatten(root["pre_tokenizer"]))
            switch (Text(step["type"]))
            {
                case "Sequence": break;
                case "Metaspace" when Text(step["replacement"]) == space:
                    escapes = true;
                    // prepend_scheme "first" and "always" both mean SentencePiece's one dummy prefix here.
                    prepend = Text(step["prepend_scheme"]) is { } scheme
                        ? scheme != "never" : Flag(step, "add_prefix_space", true);
                    split = Flag(step, "split", true);
                    break;
                case var other: throw Unsupported($"pre_tokenizer '{other}'");
            }
        if (!escapes)
            throw new NotSupportedException($"{path}: a BPE needs a ByteLevel pre_tokenizer, or SentencePiece-style " +
                "spaces (a Metaspace pre_tokenizer or a Replace(' ' → '▁') normalizer); this one has neither.");
        foreach (string field in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (Text(model[field]) is { Length: > 0 }) throw Unsupported($"model.{field}");
        int? unknownId = null;
        if (Text(model["unk_token"]) is { } unk)
            unknownId = vocab.Where(p => p.Key == unk).Select(p => (int?)p.Value).FirstOrDefault()
                ?? (specials.TryGetValue(unk, out int id) ? id
                    : throw new InvalidDataException($"{path}: model.unk_token '{unk}' is not in model.vocab."));
        return new SentencePieceBpeOptions(prepend, split, Flag(model, "byte_fallback", false), unknownId,
            Flag(model, "fuse_unk", false), Flag(model, "ignore_merges", false));

        NotSupportedException Unsupported(string what) =>
            new($"{path}: {what} is not supported for a BPE without a ByteLevel pre_tokenizer.");
    }

    private static string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue(out string? s) ? s : null;

    private static bool Flag(JsonObject o, string name, bool absent) =>
        o[name] is JsonValue v && v.TryGetValue(out bool b) ? b : absent;

    private static int VocabularySize(List<KeyValuePair<string, int>> vocab, Dictionary<string, int> specials) =>
        Math.Max(vocab.Max(v => v.Value), specials.Count == 0 ? 0 : specials.Values.Max()) + 1;

    private static LoadedTokenizer FromVocabAndMerges(string directory, string vocabPath, string mergesPath)
    {
        var vocab = ReadVocabulary(
            ParseJson(vocabPath) as JsonObject ?? throw new InvalidDataException($"{vocabPath}: not a JSON object."),
            vocabPath, "the vocabulary");
        var merges = File.ReadLines(mergesPath)
            .Where(l => l.Length > 0 && !l.StartsWith("#version", StringComparison.Ordinal)).ToList();
        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        string added = Path.Combine(directory, "added_tokens.json");
        if (File.Exists(added))
            foreach (var p in ParseJson(added) as JsonObject
                ?? throw new InvalidDataException($"{added}: not a JSON object."))
                specials[p.Key] = Id(p.Value, added, $"'{p.Key}'");
        var tokenizer = ByteLevelBpe(vocab, merges, new Regex(Qwen2Pattern, RegexOptions.Compiled), specials);
        int size = VocabularySize(vocab, specials);
        return new LoadedTokenizer(tokenizer, specials, size, null, "vocab.json + merges.txt byte-level BPE");
    }

    private static Tokenizer ByteLevelBpe(List<KeyValuePair<string, int>> vocab, List<string> merges, Regex pattern,
        Dictionary<string, int> specials) =>
        BpeTokenizer.Create(new BpeOptions(vocab)
        {
            Merges = merges,
            ByteLevel = true,
            PreTokenizer = new RegexPreTokenizer(pattern, specials.Count > 0 ? specials : null),
            SpecialTokens = specials.Count > 0 ? specials : null,
        });

    /// <summary>Llama-3's original tokenizer.model is a text file of "base64 rank" lines.</summary>
    private static bool IsTiktoken(string path)
    {
        using var reader = new StreamReader(path, Encoding.ASCII);
        var buffer = new char[256];
        int n = reader.ReadBlock(buffer, 0, buffer.Length);
        string head = new(buffer, 0, n);
        int newline = head.IndexOf('\n');
        return newline > 0 && Regex.IsMatch(head[..newline], @"^[A-Za-z0-9+/=]+ \d+$");
    }

    private static LoadedTokenizer FromTiktoken(string path)
    {
        // The lines are checked here and only checked lines reach the library: Microsoft.ML.Tokenizers hangs on a
        // blank line at the end of the file, and throws its own exceptions (or a KeyNotFoundException when encoding,
        // for a byte without a rank) on other damage, none of which names the file.
        var clean = CheckedTiktokenLines(path);
        int baseTokens = clean.Count;
        var specials = Llama3SpecialTokens(baseTokens);
        using var stream = new MemoryStream(Encoding.ASCII.GetBytes(string.Join('\n', clean) + "\n"));
        Tokenizer tokenizer;
        try
        {
            tokenizer = TiktokenTokenizer.Create(stream,
                new RegexPreTokenizer(new Regex(Llama3Pattern, RegexOptions.Compiled), specials), null, specials);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: not a tiktoken rank file this library can load ({e.Message}).", e);
        }
        return new LoadedTokenizer(tokenizer, specials, baseTokens + specials.Count, true,
            "tokenizer.model tiktoken (Llama-3)");
    }

    /// <summary>
    /// The "base64 rank" lines of a tiktoken file, blank lines and CRs dropped; refused naming the file and line unless
    /// every token is distinct base64, the ranks are 0 … n−1 (the special tokens take the ids after them), and all 256
    /// single bytes have a rank (byte-level BPE starts from bytes).
    /// </summary>
    private static List<string> CheckedTiktokenLines(string path)
    {
        var lines = new List<string>();
        var tokens = new HashSet<string>(StringComparer.Ordinal);
        var ranks = new HashSet<int>();
        var bytes = new bool[256];
        var decoded = new byte[1024];
        int number = 0;
        foreach (string raw in File.ReadLines(path))
        {
            number++;
            string line = raw.TrimEnd('\r');
            if (line.Length == 0) continue;
            int space = line.IndexOf(' ');
            if (space <= 0 || !int.TryParse(line.AsSpan(space + 1), System.Globalization.NumberStyles.None,
                    System.Globalization.CultureInfo.InvariantCulture, out int rank)
                || !Convert.TryFromBase64String(line[..space], decoded, out int length) || length == 0)
                throw new InvalidDataException($"{path}: line {number} is not 'base64-token rank': "
                    + $"'{(line.Length > 60 ? line[..60] + "…" : line)}'.");
            if (!tokens.Add(line[..space]))
                throw new InvalidDataException($"{path}: line {number} ranks token '{line[..space]}' a second time.");
            if (!ranks.Add(rank))
                throw new InvalidDataException($"{path}: line {number} gives rank {rank} a second time.");
            if (length == 1) bytes[decoded[0]] = true;
            lines.Add(line);
        }
        if (lines.Count == 0) throw new InvalidDataException($"{path}: no 'base64-token rank' lines.");
        if (ranks.Max() is int top && top >= lines.Count)
            throw new InvalidDataException($"{path}: rank {top} is out of range: "
                + $"{lines.Count} tokens must have ranks 0 to {lines.Count - 1}.");
        if (Array.IndexOf(bytes, false) is int missing and >= 0)
            throw new InvalidDataException(
                $"{path}: byte 0x{missing:X2} has no rank; a tiktoken file ranks all 256 single bytes.");
        return lines;
    }

    /// <summary>Meta's Llama 3.1+ special tokens: 256 ids after the base vocabulary.</summary>
    internal static Dictionary<string, int> Llama3SpecialTokens(int baseTokens)
    {
        string[] named = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
            "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>",
            "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>", "<|image|>"];
        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < 256; i++)
            specials[i < named.Length ? named[i] : $"<|reserved_special_token_{i - 10}|>"] = baseTokens + i;
        return specials;
    }

    private static LoadedTokenizer FromSentencePiece(string path)
    {
        SentencePieceTokenizer probe;
        if (new FileInfo(path).Length == 0)
            throw new InvalidDataException($"{path} is empty: a SentencePiece model holds a vocabulary.");
        try
        {
            using (var stream = File.OpenRead(path))
                probe = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not FileNotFoundException and not UnauthorizedAccessException)
        {
            // Protobuf parse errors and unsupported normalizers (e.g. nmt_nfkc) both land here; a runtime's own
            // failure (a null reference on a truncated file) says nothing useful, so only the library's messages pass.
            var detail = e is NullReferenceException or IndexOutOfRangeException
                ? "the file is truncated or not a model"
                : e.Message;
            throw new InvalidDataException($"{path}: not a SentencePiece model this library can load ({detail}).", e);
        }
        // Control pieces (<s>, </s>, and added ones like [INST]) are recognised in text as single tokens.
        var specials = probe.Vocabulary.Where(p =>
                p.Key.StartsWith('<') && p.Key.EndsWith('>') && !p.Key.StartsWith("<0x", StringComparison.Ordinal)
                || p.Key.StartsWith('[') && p.Key.EndsWith(']') && p.Key.Length > 2
                    && p.Key.All(c => c is '[' or ']' or '/' or '_' || char.IsAsciiLetterUpper(c)))
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        using var again = File.OpenRead(path);
        var tokenizer = LlamaTokenizer.Create(again, addBeginOfSentence: false, addEndOfSentence: false,
            specialTokens: specials);
        return new LoadedTokenizer(tokenizer, specials, probe.Vocabulary.Count, true, "tokenizer.model SentencePiece");
    }

    /// <summary>A normalizer, pre-tokenizer or post-processor node and, for Sequence nodes, its children.</summary>
    private static IEnumerable<JsonObject> Flatten(JsonNode? node)
    {
        if (node is not JsonObject o) yield break;
        yield return o;
        foreach (string key in new[] { "normalizers", "pretokenizers", "processors" })
            if (o[key] is JsonArray children)
                foreach (var child in children.SelectMany(Flatten)) yield return child;
    }

    internal static JsonNode? ParseJson(string path)
    {
        string text = File.ReadAllText(path);
        JsonNode? root;
        // Repeated keys are refused here: JsonObject accepted them and threw ArgumentException when one was read.
        try
        {
            root = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false });
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).", e); }
        // An escaped lone surrogate ("\ud800") is valid JSON, but System.Text.Json throws InvalidOperationException
        // wherever that string or name is read; files with surrogate escapes are read through once here instead.
        if (SurrogateEscape().IsMatch(text))
        {
            try { ReadAllStrings(root); }
            catch (InvalidOperationException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
        }
        return root;
    }

    [GeneratedRegex(@"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")]
    private static partial Regex SurrogateEscape();

    private static void ReadAllStrings(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (_, child) in o) ReadAllStrings(child);
                break;
            case JsonArray a:
                foreach (var child in a) ReadAllStrings(child);
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                v.GetValue<string>();
                break;
        }
    }
}

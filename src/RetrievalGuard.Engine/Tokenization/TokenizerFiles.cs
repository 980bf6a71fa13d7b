using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace RetrievalGuard.Engine.Tokenization;

/// <summary>A tokenizer built from a checkpoint's files, with its special tokens and what it implies about BOS.</summary>
internal sealed record LoadedTokenizer(Tokenizer Inner, IReadOnlyDictionary<string, int> SpecialTokens, int VocabularySize, bool? AddsBos, string Kind);

/// <summary>
/// Builds a Microsoft.ML.Tokenizers tokenizer from whichever files a Hugging Face checkpoint ships, in this order:
/// tokenizer.json (BPE), tokenizer.model (SentencePiece, or Llama-3's tiktoken ranks), vocab.json + merges.txt.
/// </summary>
internal static class TokenizerFiles
{
    /// <summary>GPT-2's pre-tokenizer, used by ByteLevel(use_regex=true) when no Split pattern is given.</summary>
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Llama-3's (tiktoken) pattern, from Meta's tokenizer.py.</summary>
    private const string Llama3Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2's pattern (single digits), for vocab.json + merges.txt without a tokenizer.json.</summary>
    private const string Qwen2Pattern = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public static bool Exist(string directory) =>
        File.Exists(Path.Combine(directory, "tokenizer.json")) || File.Exists(Path.Combine(directory, "tokenizer.model")) ||
        (File.Exists(Path.Combine(directory, "vocab.json")) && File.Exists(Path.Combine(directory, "merges.txt")));

    public static LoadedTokenizer Load(string directory)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"Tokenizer folder '{directory}' does not exist.");
        string json = Path.Combine(directory, "tokenizer.json"), model = Path.Combine(directory, "tokenizer.model");
        if (File.Exists(json) && FromTokenizerJson(json) is { } fromJson) return fromJson;
        if (File.Exists(model)) return IsTiktoken(model) ? FromTiktoken(model) : FromSentencePiece(model);
        string vocab = Path.Combine(directory, "vocab.json"), merges = Path.Combine(directory, "merges.txt");
        if (File.Exists(vocab) && File.Exists(merges)) return FromVocabAndMerges(directory, vocab, merges);
        throw new FileNotFoundException($"{directory} has no tokenizer: looked for tokenizer.json, tokenizer.model, and vocab.json + merges.txt.");
    }

    /// <summary>
    /// BPE from tokenizer.json, byte-level or SentencePiece-style; null for a SentencePiece-style one whose
    /// tokenizer.model is next to it, which then loads as the original.
    /// </summary>
    private static LoadedTokenizer? FromTokenizerJson(string path)
    {
        var root = ParseJson(path) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object.");
        var model = root["model"] as JsonObject ?? throw new InvalidDataException($"{path}: no 'model' object.");
        string type = model["type"]?.GetValue<string>() ?? "(none)";
        if (type != "BPE") throw new NotSupportedException($"{path}: tokenizer model type '{type}' is not supported (only BPE).");
        var preTokenizers = Flatten(root["pre_tokenizer"]).ToList();
        bool byteLevel = preTokenizers.Any(p => p["type"]?.GetValue<string>() == "ByteLevel");
        if (!byteLevel && File.Exists(Path.Combine(Path.GetDirectoryName(path)!, "tokenizer.model"))) return null;
        var vocab = (model["vocab"] as JsonObject ?? throw new InvalidDataException($"{path}: model.vocab is missing."))
            .Select(p => KeyValuePair.Create(p.Key, p.Value!.GetValue<int>())).ToList();
        var mergeList = model["merges"] as JsonArray ?? new JsonArray();
        List<(string Left, string Right)> merges = mergeList.Select((m, i) => m switch
        {
            JsonArray pair => (pair[0]!.GetValue<string>(), pair[1]!.GetValue<string>()),
            JsonValue v when v.GetValue<string>().Split(' ') is [var left, var right] => (left, right),
            _ => throw new InvalidDataException($"{path}: model.merges[{i}] is not a pair of pieces."),
        }).ToList();
        var specials = (root["added_tokens"] as JsonArray ?? new JsonArray())
            .OfType<JsonObject>().ToDictionary(t => t["content"]!.GetValue<string>(), t => t["id"]!.GetValue<int>(), StringComparer.Ordinal);
        bool? addsBos = Flatten(root["post_processor"]).Any(p => p["type"]?.GetValue<string>() == "TemplateProcessing")
            ? (root["post_processor"]!.ToJsonString().Contains("SpecialToken", StringComparison.Ordinal) ? true : false)
            : null;
        int size = VocabularySize(vocab, specials);
        if (!byteLevel)
        {
            var options = SentencePieceOptions(root, model, path, vocab, specials);
            var sentencePiece = new SentencePieceBpe(vocab, merges, specials, options, path);
            return new LoadedTokenizer(sentencePiece, specials, size, addsBos, "tokenizer.json SentencePiece BPE");
        }
        string pattern = preTokenizers.Select(p => p["pattern"]?["Regex"]?.GetValue<string>())
            .FirstOrDefault(r => r is not null) ?? Gpt2Pattern;
        var tokenizer = ByteLevelBpe(vocab, merges.Select(m => m.Left + " " + m.Right).ToList(), pattern, specials);
        return new LoadedTokenizer(tokenizer, specials, size, addsBos, "tokenizer.json byte-level BPE");
    }

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
                case "Replace" when Text(step["pattern"]?["String"]) == " " && Text(step["content"]) == space:
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
        var vocab = (ParseJson(vocabPath) as JsonObject ?? throw new InvalidDataException($"{vocabPath}: not a JSON object."))
            .Select(p => KeyValuePair.Create(p.Key, p.Value!.GetValue<int>())).ToList();
        var merges = File.ReadLines(mergesPath).Where(l => l.Length > 0 && !l.StartsWith("#version", StringComparison.Ordinal)).ToList();
        var specials = new Dictionary<string, int>(StringComparer.Ordinal);
        string added = Path.Combine(directory, "added_tokens.json");
        if (File.Exists(added))
            foreach (var p in ParseJson(added) as JsonObject ?? throw new InvalidDataException($"{added}: not a JSON object."))
                specials[p.Key] = p.Value!.GetValue<int>();
        var tokenizer = ByteLevelBpe(vocab, merges, Qwen2Pattern, specials);
        int size = VocabularySize(vocab, specials);
        return new LoadedTokenizer(tokenizer, specials, size, null, "vocab.json + merges.txt byte-level BPE");
    }

    private static Tokenizer ByteLevelBpe(List<KeyValuePair<string, int>> vocab, List<string> merges, string pattern, Dictionary<string, int> specials) =>
        BpeTokenizer.Create(new BpeOptions(vocab)
        {
            Merges = merges,
            ByteLevel = true,
            PreTokenizer = new RegexPreTokenizer(new Regex(pattern, RegexOptions.Compiled), specials.Count > 0 ? specials : null),
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
        int baseTokens = File.ReadLines(path).Count(l => l.Length > 0);
        var specials = Llama3SpecialTokens(baseTokens);
        using var stream = File.OpenRead(path);
        var tokenizer = TiktokenTokenizer.Create(stream, new RegexPreTokenizer(new Regex(Llama3Pattern, RegexOptions.Compiled), specials), null, specials);
        return new LoadedTokenizer(tokenizer, specials, baseTokens + specials.Count, true, "tokenizer.model tiktoken (Llama-3)");
    }

    /// <summary>Meta's Llama 3.1+ special tokens: 256 ids after the base vocabulary.</summary>
    internal static Dictionary<string, int> Llama3SpecialTokens(int baseTokens)
    {
        string[] named = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
            "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>",
            "<|python_tag|>", "<|image|>"];
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
            var detail = e is NullReferenceException or IndexOutOfRangeException ? "the file is truncated or not a model"
                : e.Message;
            throw new InvalidDataException($"{path}: not a SentencePiece model this library can load ({detail}).", e);
        }
        // Control pieces (<s>, </s>, and added ones like [INST]) are recognised in text as single tokens.
        var specials = probe.Vocabulary.Where(p => p.Key.StartsWith('<') && p.Key.EndsWith('>') && !p.Key.StartsWith("<0x", StringComparison.Ordinal)
                || p.Key.StartsWith('[') && p.Key.EndsWith(']') && p.Key.Length > 2 && p.Key.All(c => c is '[' or ']' or '/' or '_' || char.IsAsciiLetterUpper(c)))
            .ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        using var again = File.OpenRead(path);
        var tokenizer = LlamaTokenizer.Create(again, addBeginOfSentence: false, addEndOfSentence: false, specialTokens: specials);
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
        try { return JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).", e); }
    }
}

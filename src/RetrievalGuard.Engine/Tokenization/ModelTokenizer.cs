using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.ML.Tokenizers;

namespace RetrievalGuard.Engine.Tokenization;

/// <summary>
/// A checkpoint's tokenizer with what generation needs around it: BOS, stop tokens, special tokens written in text,
/// streaming decode and the chat format. BOS/EOS come from tokenizer_config.json, then generation_config.json,
/// then config.json.
/// </summary>
public sealed class ModelTokenizer
{
    private readonly Tokenizer _inner;
    private readonly IReadOnlyDictionary<string, int> _specials;
    private readonly HashSet<int> _specialIds;
    private readonly Dictionary<int, string> _specialText;
    private readonly bool _addBos;

    private ModelTokenizer(LoadedTokenizer loaded, int? bos, IReadOnlyList<int> stops, int? pad, bool addBos,
        ChatFormat chat)
    {
        _inner = loaded.Inner;
        _specials = loaded.SpecialTokens;
        _specialIds = loaded.SpecialTokens.Values.ToHashSet();
        _specialText = loaded.SpecialTokens.GroupBy(p => p.Value).ToDictionary(g => g.Key, g => g.First().Key);
        Kind = loaded.Kind;
        VocabularySize = loaded.VocabularySize;
        BosId = bos;
        StopTokenIds = stops;
        PadId = pad;
        _addBos = addBos && bos is not null;
        ChatFormat = chat;
    }

    /// <summary>Which files it was built from (for diagnostics).</summary>
    public string Kind { get; }
    public int? BosId { get; }
    public IReadOnlyList<int> StopTokenIds { get; }
    public int? PadId { get; }
    public int VocabularySize { get; }
    public ChatFormat ChatFormat { get; }

    /// <summary>
    /// Whether <see cref="Encode(string, bool?)"/> puts BOS first by default (the checkpoint's add_bos_token).
    /// </summary>
    public bool AddsBos => _addBos;

    public static bool HasTokenizerFiles(string directory) => TokenizerFiles.Exist(directory);

    public static ModelTokenizer Load(string directory)
    {
        var loaded = TokenizerFiles.Load(directory);
        string generationPath = Path.Combine(directory, "generation_config.json"),
            modelPath = Path.Combine(directory, "config.json");
        var config = ReadObject(Path.Combine(directory, "tokenizer_config.json"));
        var generation = ReadObject(generationPath);
        var model = ReadObject(modelPath);

        int? IdOf(JsonNode? token) => TokenText(token) is string text ? Lookup(loaded, text) : null;
        int? bos = IdOf(config?["bos_token"]) ?? IntOrFirst(generation?["bos_token_id"], generationPath, "bos_token_id")
            ?? IntOrFirst(model?["bos_token_id"], modelPath, "bos_token_id")
            ?? (config is null ? Known(loaded, "<|begin_of_text|>", "<s>") : null);
        var stops = new List<int>();
        void AddStop(int? id) { if (id is int i && !stops.Contains(i)) stops.Add(i); }
        AddStop(IdOf(config?["eos_token"]));
        foreach (var (source, path) in
            new[] { (generation?["eos_token_id"], generationPath), (model?["eos_token_id"], modelPath) })
            foreach (int id in Ints(source, path, "eos_token_id")) AddStop(id);
        if (stops.Count == 0) AddStop(Known(loaded, "<|end_of_text|>", "</s>", "<|endoftext|>"));

        string? template = config?["chat_template"] switch
        {
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
            // Read as text only when they are strings, like the fields above: GetValue<string> threw
            // InvalidOperationException.
            JsonArray list =>
                Text(list.OfType<JsonObject>().FirstOrDefault(t => Text(t["name"]) == "default")?["template"]),
            _ => null,
        };
        // Without a template, the special tokens a vocabulary has still tell its family.
        var chat = template is not null ? ChatFormat.Detect(template)
            : Known(loaded, "<|start_header_id|>") is not null ? ChatFormat.Llama3
            : Known(loaded, "<|im_start|>") is not null ? ChatFormat.ChatMl
            : Known(loaded, "[INST]") is not null ? ChatFormat.MistralInstruct
            : ChatFormat.Plain;
        foreach (string end in chat.EndOfTurnTokens) AddStop(Lookup(loaded, end));

        bool addBos = config?["add_bos_token"] is JsonValue flag
                && flag.GetValueKind() is JsonValueKind.True or JsonValueKind.False
            ? flag.GetValue<bool>()
            : loaded.AddsBos ?? false;
        int? pad = IdOf(config?["pad_token"])
            ?? IntOrFirst(generation?["pad_token_id"], generationPath, "pad_token_id");
        return new ModelTokenizer(loaded, bos, stops, pad, addBos, chat);
    }

    /// <summary>Token ids of <paramref name="text"/>; special-token strings in it become their ids.</summary>
    public IReadOnlyList<int> Encode(string text, bool? addBos = null)
    {
        var ids = _inner.EncodeToIds(text);
        if (!(addBos ?? _addBos) || BosId is not int bos) return ids;
        var withBos = new List<int>(ids.Count + 1) { bos };
        withBos.AddRange(ids);
        return withBos;
    }

    /// <summary>Tokens <paramref name="text"/> takes without BOS: how long a piece of a prompt is.</summary>
    public int CountTokens(string text) => _inner.CountTokens(text);

    /// <summary>The conversation in the model's chat format, ready to generate the assistant's reply.</summary>
    public IReadOnlyList<int> EncodeChat(IReadOnlyList<ChatTurn> turns, bool addGenerationPrompt = true) =>
        Encode(ChatFormat.Format(turns, addGenerationPrompt), addBos: ChatFormat.IncludesBos ? false : null);

    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        var list = ids.ToList();
        foreach (int id in list)
            if (id < 0 || id >= VocabularySize)
                throw new ArgumentOutOfRangeException(nameof(ids), id,
                    $"Token id {id} is outside the vocabulary (size {VocabularySize}).");
        if (skipSpecialTokens) list.RemoveAll(_specialIds.Contains);
        return _inner.Decode(list) ?? "";
    }

    public string? TokenText(int id) => _specialText.TryGetValue(id, out string? s) ? s : _inner.Decode([id]);

    public bool IsSpecial(int id) => _specialIds.Contains(id);

    public IncrementalDecoder CreateIncrementalDecoder() => new(ids => _inner.Decode(ids) ?? "");

    private static int? Lookup(LoadedTokenizer loaded, string text)
    {
        if (loaded.SpecialTokens.TryGetValue(text, out int id)) return id;
        var ids = loaded.Inner.EncodeToIds(text);
        return ids.Count == 1 ? ids[0] : null;
    }

    /// <summary>The id of the first of <paramref name="texts"/> that the tokenizer has as a special token.</summary>
    private static int? Known(LoadedTokenizer loaded, params string[] texts) =>
        texts.Select(t => loaded.SpecialTokens.TryGetValue(t, out int id) ? id : (int?)null)
            .FirstOrDefault(id => id is not null);

    private static string? TokenText(JsonNode? node) => node switch
    {
        JsonObject o => Text(o["content"]),
        _ => Text(node),
    };

    private static string? Text(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    private static int? IntOrFirst(JsonNode? node, string path, string field) =>
        Ints(node, path, field).Cast<int?>().FirstOrDefault();

    /// <summary>Token ids: other kinds of value are passed over, as before; a number that is not an int is refused
    /// naming the file and field (GetValue&lt;int&gt; threw InvalidOperationException for 2.5 or 2^32).</summary>
    private static IEnumerable<int> Ints(JsonNode? node, string path, string field) => node switch
    {
        JsonValue v when v.GetValueKind() == JsonValueKind.Number => [Int(v, path, field)],
        JsonArray a => a.OfType<JsonValue>().Where(x => x.GetValueKind() == JsonValueKind.Number)
            .Select(x => Int(x, path, field)).ToList(),
        _ => [],
    };

    private static int Int(JsonValue value, string path, string field) => value.TryGetValue(out int id) ? id
        : throw new InvalidDataException(
            $"{path}: {field} must be a token id (an integer), not {value.ToJsonString()}.");

    private static JsonObject? ReadObject(string path) =>
        !File.Exists(path) ? null
            : TokenizerFiles.ParseJson(path) as JsonObject
                ?? throw new InvalidDataException($"{path}: not a JSON object.");
}

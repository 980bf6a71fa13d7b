using System.Text.Json;
using System.Text.Json.Nodes;

namespace RetrievalGuard.Engine.Checkpoints;

/// <summary>
/// RoPE frequency scaling: "linear" (Factor) or "llama3" (all fields), as in HF's rope init functions.
/// </summary>
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor = 1, double HighFreqFactor = 4,
    int OriginalMaxPositionEmbeddings = 8192);

/// <summary>
/// What the engine needs from a Hugging Face <c>config.json</c> of LlamaForCausalLM, MistralForCausalLM or
/// Qwen2ForCausalLM. Reads both layouts: transformers 4 (<c>rope_theta</c>, <c>rope_scaling</c>, <c>torch_dtype</c>)
/// and transformers 5 (<c>rope_parameters</c>, <c>dtype</c>).
/// </summary>
public sealed record ModelConfig
{
    public static readonly IReadOnlyDictionary<string, string> SupportedArchitectures = new Dictionary<string, string>
    {
        ["LlamaForCausalLM"] = "llama", ["MistralForCausalLM"] = "mistral", ["Qwen2ForCausalLM"] = "qwen2",
    };

    public string Architecture { get; init; } = "LlamaForCausalLM";
    public int HiddenSize { get; init; }
    public int NumLayers { get; init; }
    public int NumHeads { get; init; }
    public int NumKvHeads { get; init; }
    public int HeadDim { get; init; }
    public int IntermediateSize { get; init; }
    public double RmsNormEps { get; init; } = 1e-5;
    public double RopeTheta { get; init; } = 10000;
    public RopeScaling? RopeScaling { get; init; }
    public bool TieWordEmbeddings { get; init; }
    /// <summary>Biases on q/k/v (Qwen2 always; Llama when attention_bias).</summary>
    public bool AttentionBias { get; init; }
    public int VocabSize { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 4096;
    /// <summary>Each token sees at most this many positions back (itself included); null = unlimited.</summary>
    public int? SlidingWindow { get; init; }
    /// <summary>bfloat16, float16 or float32, as the checkpoint states.</summary>
    public string? TorchDtype { get; init; }
    public int? BosTokenId { get; init; }
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    public string ModelType => SupportedArchitectures[Architecture];

    public static ModelConfig Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException(
                $"{path} does not exist: a Hugging Face model folder needs config.json.", path);
        JsonNode? root;
        // Repeated keys are refused here: JsonObject accepted them and threw ArgumentException when a field was read.
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path),
                documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false });
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).", e); }
        if (root is not JsonObject json) throw new InvalidDataException($"{path}: not a JSON object.");
        try { return Parse(json, path); }
        catch (InvalidOperationException e)
        {
            // System.Text.Json's own: an escaped lone surrogate ("\ud800") is valid JSON but not a readable string.
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    public static ModelConfig Parse(JsonObject json, string source = "config.json")
    {
        var r = new FieldReader(json, source);
        string architecture = ArchitectureOf(json, source);
        int hidden = r.Int("hidden_size"), heads = r.Int("num_attention_heads");
        int? explicitHeadDim = r.OptionalInt("head_dim");
        // Checked before the division below, which threw DivideByZeroException for num_attention_heads = 0.
        if (heads <= 0) throw new InvalidDataException($"{source}: num_attention_heads must be positive, not {heads}.");
        if (explicitHeadDim is null && hidden % heads != 0)
            throw new InvalidDataException($"{source}: hidden_size {hidden} is not divisible by "
                + $"num_attention_heads {heads}, and head_dim is not given.");
        if (r.OptionalBool("mlp_bias") == true)
            throw new NotSupportedException($"{source}: mlp_bias = true is not supported.");
        var rope = json["rope_parameters"] as JsonObject ?? json["rope_scaling"] as JsonObject;
        double theta = r.OptionalDouble("rope_theta")
            ?? (rope is null ? null : new FieldReader(rope, source + " rope_parameters").OptionalDouble("rope_theta"))
            ?? 10000;
        string type = SupportedArchitectures[architecture];
        int? window = type switch
        {
            "mistral" => r.OptionalInt("sliding_window"),
            "qwen2" => r.OptionalBool("use_sliding_window") == true ? r.OptionalInt("sliding_window") : null,
            _ => null,
        };
        var config = new ModelConfig
        {
            Architecture = architecture,
            HiddenSize = hidden,
            NumLayers = r.Int("num_hidden_layers"),
            NumHeads = heads,
            NumKvHeads = r.OptionalInt("num_key_value_heads") ?? heads,
            HeadDim = explicitHeadDim ?? hidden / heads,
            IntermediateSize = r.Int("intermediate_size"),
            RmsNormEps = r.OptionalDouble("rms_norm_eps") ?? 1e-6,
            RopeTheta = theta,
            RopeScaling = ParseRopeScaling(rope, source),
            TieWordEmbeddings = r.OptionalBool("tie_word_embeddings") ?? false,
            AttentionBias = type == "qwen2" || (r.OptionalBool("attention_bias") ?? false),
            VocabSize = r.Int("vocab_size"),
            MaxPositionEmbeddings = r.OptionalInt("max_position_embeddings") ?? 4096,
            SlidingWindow = window,
            TorchDtype = r.OptionalString("torch_dtype") ?? r.OptionalString("dtype"),
            BosTokenId = r.OptionalInt("bos_token_id"),
            EosTokenIds = r.IntOrIntArray("eos_token_id"),
        };
        config.Validate(source);
        return config;
    }

    private static string ArchitectureOf(JsonObject json, string source)
    {
        // Read as text only when they are strings: GetValue<string> threw InvalidOperationException for, e.g., a
        // number.
        string? architecture = (json["architectures"] as JsonArray)?.FirstOrDefault() switch
        {
            null => null,
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
            _ => throw new InvalidDataException($"{source}: 'architectures' must be a list of class names, "
                + $"not {json["architectures"]!.ToJsonString()}."),
        };
        if (architecture is not null && SupportedArchitectures.ContainsKey(architecture)) return architecture;
        string? modelType = json["model_type"] is JsonValue t && t.GetValueKind() == JsonValueKind.String
            ? t.GetValue<string>()
            : null;
        var byType = SupportedArchitectures.FirstOrDefault(p => p.Value == modelType).Key;
        if (architecture is null && byType is not null) return byType;
        throw new NotSupportedException($"{source}: architecture '{architecture ?? modelType ?? "(none)"}' "
            + $"is not supported; supported: {string.Join(", ", SupportedArchitectures.Keys)}.");
    }

    private static RopeScaling? ParseRopeScaling(JsonObject? rope, string source)
    {
        if (rope is null) return null;
        var r = new FieldReader(rope, source + " rope_scaling");
        string type = r.OptionalString("rope_type") ?? r.OptionalString("type") ?? "default";
        return type switch
        {
            "default" => null,
            "linear" => new RopeScaling("linear", r.Double("factor")),
            "llama3" => new RopeScaling("llama3", r.Double("factor"), r.Double("low_freq_factor"),
                r.Double("high_freq_factor"), r.Int("original_max_position_embeddings")),
            _ => throw new NotSupportedException(
                $"{source}: rope scaling type '{type}' is not supported (supported: default, linear, llama3)."),
        };
    }

    public void Validate(string source = "config")
    {
        void Positive(int value, string field)
        {
            if (value <= 0) throw new InvalidDataException($"{source}: {field} must be positive, not {value}.");
        }
        Positive(HiddenSize, "hidden_size"); Positive(NumLayers, "num_hidden_layers");
        Positive(NumHeads, "num_attention_heads"); Positive(NumKvHeads, "num_key_value_heads");
        Positive(HeadDim, "head_dim"); Positive(IntermediateSize, "intermediate_size");
        Positive(VocabSize, "vocab_size"); Positive(MaxPositionEmbeddings, "max_position_embeddings");
        if (NumHeads % NumKvHeads != 0)
            throw new InvalidDataException($"{source}: num_attention_heads {NumHeads} is not a multiple of "
                + $"num_key_value_heads {NumKvHeads}.");
        if (HeadDim % 2 != 0)
            throw new InvalidDataException($"{source}: head_dim {HeadDim} must be even for rotary embeddings.");
        if (SlidingWindow is <= 0)
            throw new InvalidDataException($"{source}: sliding_window must be positive, not {SlidingWindow}.");
        if (RmsNormEps <= 0 || RopeTheta <= 0)
            throw new InvalidDataException($"{source}: rms_norm_eps and rope_theta must be positive.");
    }

    /// <summary>Parameters implied by the shape (a tied embedding counted once).</summary>
    public long ParameterCount()
    {
        long h = HiddenSize, q = (long)NumHeads * HeadDim, kv = (long)NumKvHeads * HeadDim;
        long attention = h * q + 2 * h * kv + q * h + (AttentionBias ? q + 2 * kv : 0);
        long layer = attention + 3 * h * IntermediateSize + 2 * h;
        return VocabSize * h * (TieWordEmbeddings ? 1 : 2) + NumLayers * layer + h;
    }

    /// <summary>An HF-compatible config.json (transformers 4 layout, which transformers 5 also reads).</summary>
    public JsonObject ToJson()
    {
        var json = new JsonObject
        {
            ["architectures"] = new JsonArray(Architecture),
            ["model_type"] = ModelType,
            ["hidden_size"] = HiddenSize,
            ["num_hidden_layers"] = NumLayers,
            ["num_attention_heads"] = NumHeads,
            ["num_key_value_heads"] = NumKvHeads,
            ["head_dim"] = HeadDim,
            ["intermediate_size"] = IntermediateSize,
            ["hidden_act"] = "silu",
            ["rms_norm_eps"] = RmsNormEps,
            ["rope_theta"] = RopeTheta,
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["vocab_size"] = VocabSize,
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["torch_dtype"] = TorchDtype ?? "float32",
        };
        if (ModelType == "llama") json["attention_bias"] = AttentionBias;
        if (ModelType == "mistral") json["sliding_window"] = SlidingWindow;
        if (ModelType == "qwen2")
        {
            json["use_sliding_window"] = SlidingWindow is not null;
            json["sliding_window"] = SlidingWindow;
        }
        if (RopeScaling is { } s)
            json["rope_scaling"] = s.Type == "llama3"
                ? new JsonObject
                {
                    ["rope_type"] = "llama3", ["factor"] = s.Factor, ["low_freq_factor"] = s.LowFreqFactor,
                    ["high_freq_factor"] = s.HighFreqFactor,
                    ["original_max_position_embeddings"] = s.OriginalMaxPositionEmbeddings
                }
                : new JsonObject { ["rope_type"] = s.Type, ["factor"] = s.Factor };
        if (BosTokenId is int bos) json["bos_token_id"] = bos;
        if (EosTokenIds.Count == 1) json["eos_token_id"] = EosTokenIds[0];
        else if (EosTokenIds.Count > 1)
            json["eos_token_id"] = new JsonArray(EosTokenIds.Select(i => (JsonNode)i).ToArray());
        return json;
    }

    /// <summary>Typed access to config fields with errors that name the file and the field.</summary>
    private sealed class FieldReader(JsonObject json, string source)
    {
        public int Int(string field) => OptionalInt(field) ?? throw Missing(field);
        public double Double(string field) => OptionalDouble(field) ?? throw Missing(field);

        public int? OptionalInt(string field) => Get(field,
            n => n.GetValueKind() == JsonValueKind.Number && n.AsValue().TryGetValue(out int v) ? v
                : n.GetValueKind() == JsonValueKind.Number && n.AsValue().TryGetValue(out double d)
                    && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue ? (int)d
                : throw Wrong(field, "an integer"));

        public double? OptionalDouble(string field) => Get(field,
            n => n.GetValueKind() == JsonValueKind.Number ? n.GetValue<double>() : throw Wrong(field, "a number"));

        public bool? OptionalBool(string field) => Get(field,
            n => n.GetValueKind() is JsonValueKind.True or JsonValueKind.False
                ? n.GetValue<bool>()
                : throw Wrong(field, "true or false"));

        public string? OptionalString(string field) =>
            json[field] is JsonNode n && n.GetValueKind() == JsonValueKind.String ? n.GetValue<string>() : null;

        public IReadOnlyList<int> IntOrIntArray(string field) => json[field] switch
        {
            null => [],
            // Each element read like a single integer: GetValue<int> threw InvalidOperationException for 2147483648 or
            // 1.5.
            JsonArray a => a.Select(n =>
                    n is not null && n.GetValueKind() == JsonValueKind.Number && n.AsValue().TryGetValue(out int v)
                        ? v
                        : throw Wrong(field, "an integer or a list of integers"))
                .ToList(),
            JsonNode n => [OptionalInt(field)!.Value],
        };

        private T? Get<T>(string field, Func<JsonNode, T> read) where T : struct =>
            json[field] is JsonNode n && n.GetValueKind() != JsonValueKind.Null ? read(n) : null;

        private InvalidDataException Missing(string field) => new($"{source}: required field '{field}' is missing.");
        private InvalidDataException Wrong(string field, string what) =>
            new($"{source}: '{field}' must be {what}, not {json[field]?.ToJsonString()}.");
    }
}

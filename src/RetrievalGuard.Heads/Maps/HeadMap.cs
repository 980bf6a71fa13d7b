using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Probes;

namespace RetrievalGuard.Heads.Maps;

/// <summary>
/// Which model a map belongs to. <see cref="Fingerprint"/> (see <see cref="ModelFingerprint"/>) ties it to one
/// checkpoint.
/// </summary>
public sealed record HeadMapModel(string Architecture, int Layers, int Heads, int KvHeads, int HeadDim,
    string? Fingerprint, string? Name = null)
{
    public static HeadMapModel From(ModelConfig config, string? fingerprint, string? name = null) =>
        new(config.Architecture, config.NumLayers, config.NumHeads, config.NumKvHeads, config.HeadDim, fingerprint,
            name);
}

/// <summary>How the scores were obtained.</summary>
/// <param name="Kind">copy-paste-retrieval-score (Wu et al.), duoattention-gate (per KV head), or an import's
/// name.</param>
public sealed record HeadMapMethod(
    string Kind,
    double Threshold,
    IReadOnlyList<int>? Lengths = null,
    IReadOnlyList<double>? Depths = null,
    int? Needles = null,
    int? TestsCounted = null,
    int? TestsTotal = null,
    string? Source = null,
    string? License = null,
    string? Notes = null);

/// <summary>Scores are per query head (copy-paste scores) or per KV head (DuoAttention's gates).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<HeadGranularity>))]
public enum HeadGranularity { QueryHead, KvHead }

/// <summary>A head (query or KV head, by the map's granularity) with its score.</summary>
public sealed record ScoredHead(int Layer, int Head, double Score);

/// <summary>
/// A retrieval-head map: every head's score, the heads at or above the threshold sorted by score, and the heads that
/// were active in at least 90% of the tests ("always on"). Saved as versioned JSON (headmaps/README.md).
/// </summary>
public sealed class HeadMap
{
    public const string FormatName = "retrievalguard.headmap";
    public const int CurrentVersion = 1;
    public const double AlwaysOnShare = 0.9;

    public HeadMap(HeadMapModel model, HeadMapMethod method, HeadGranularity granularity, double[][] scores,
        int[][]? testsPerHead = null, double[][]? activation = null, string? created = null)
    {
        int units = granularity == HeadGranularity.QueryHead ? model.Heads : model.KvHeads;
        if (scores.Length != model.Layers || scores.Any(row => row.Length != units))
            throw new ArgumentException($"Scores must be {model.Layers} layers × {units} "
                + $"{(granularity == HeadGranularity.QueryHead ? "heads" : "KV heads")}.", nameof(scores));
        if (testsPerHead is not null
            && (testsPerHead.Length != model.Layers || testsPerHead.Any(r => r.Length != units)))
            throw new ArgumentException("tests_per_head must have the scores' shape.", nameof(testsPerHead));
        if (activation is not null && (activation.Length != model.Layers || activation.Any(r => r.Length != units)))
            throw new ArgumentException("activation must have the scores' shape.", nameof(activation));
        Model = model;
        Method = method;
        Granularity = granularity;
        Scores = scores;
        TestsPerHead = testsPerHead;
        Activation = activation;
        Created = created ?? DateTime.UtcNow.ToString("yyyy-MM-dd");
    }

    public HeadMapModel Model { get; }
    public HeadMapMethod Method { get; }
    public HeadGranularity Granularity { get; }
    public double[][] Scores { get; }
    public int[][]? TestsPerHead { get; }
    /// <summary>Share of counted tests in which the head copied at least one needle token.</summary>
    public double[][]? Activation { get; }
    public string Created { get; }

    public int TotalUnits => Scores.Sum(r => r.Length);

    /// <summary>Every head, best first.</summary>
    public IReadOnlyList<ScoredHead> Ranked() =>
        Scores.SelectMany((row, layer) => row.Select((score, head) => new ScoredHead(layer, head, score)))
            .OrderByDescending(h => h.Score).ThenBy(h => h.Layer).ThenBy(h => h.Head).ToList();

    /// <summary>Heads scoring at or above the method's threshold, best first.</summary>
    public IReadOnlyList<ScoredHead> RetrievalHeads =>
        Ranked().Where(h => h.Score >= Method.Threshold && h.Score > 0).ToList();

    /// <summary>
    /// Retrieval heads active in at least 90% of the tests (the paper's dynamic-activation property).
    /// </summary>
    public IReadOnlyList<ScoredHead> AlwaysOnHeads => Activation is null ? [] :
        RetrievalHeads.Where(h => Activation[h.Layer][h.Head] >= AlwaysOnShare).ToList();

    /// <summary>The K best query heads (a KV-head map expands each KV head to the query heads that read it).</summary>
    public IReadOnlyList<HeadIndex> TopQueryHeads(int k)
    {
        int group = Model.Heads / Model.KvHeads;
        var heads = Granularity == HeadGranularity.QueryHead
            ? Ranked().Select(h => new HeadIndex(h.Layer, h.Head))
            : Ranked().SelectMany(h => Enumerable.Range(h.Head * group, group).Select(q => new HeadIndex(h.Layer, q)));
        return heads.Take(k).ToList();
    }

    /// <summary>Refuses a map made for another model, naming what differs.</summary>
    public void EnsureFits(ModelConfig config, string? fingerprint, string mapSource = "head map")
    {
        var problems = new List<string>();
        if (config.NumLayers != Model.Layers) problems.Add($"{Model.Layers} layers vs the model's {config.NumLayers}");
        if (config.NumHeads != Model.Heads) problems.Add($"{Model.Heads} heads vs {config.NumHeads}");
        if (config.NumKvHeads != Model.KvHeads) problems.Add($"{Model.KvHeads} KV heads vs {config.NumKvHeads}");
        if (config.HeadDim != Model.HeadDim) problems.Add($"head_dim {Model.HeadDim} vs {config.HeadDim}");
        if (problems.Count == 0 && Model.Fingerprint is not null && fingerprint is not null
            && Model.Fingerprint != fingerprint)
            problems.Add(
                $"fingerprint {Model.Fingerprint} vs the checkpoint's {fingerprint} (same shape, different weights)");
        if (problems.Count > 0)
            throw new InvalidDataException($"{mapSource} was made for another model "
                + $"({Model.Name ?? Model.Architecture}): {string.Join("; ", problems)}.");
    }

    public JsonObject ToJson()
    {
        static JsonArray Matrix<T>(T[][] m) =>
            new(m.Select(r => (JsonNode)new JsonArray(r.Select(v => JsonValue.Create(v)).ToArray<JsonNode?>()))
                .ToArray());
        static JsonArray Heads(IEnumerable<ScoredHead> heads) =>
            new(heads.Select(h => (JsonNode)new JsonObject
            {
                ["layer"] = h.Layer, ["head"] = h.Head, ["score"] = Math.Round(h.Score, 6)
            }).ToArray());
        var json = new JsonObject
        {
            ["format"] = FormatName,
            ["version"] = CurrentVersion,
            ["created"] = Created,
            ["model"] = JsonSerializer.SerializeToNode(Model, Options),
            ["method"] = JsonSerializer.SerializeToNode(Method, Options),
            ["granularity"] = Granularity == HeadGranularity.QueryHead ? "query_head" : "kv_head",
            ["scores"] = Matrix(Scores.Select(r => r.Select(v => Math.Round(v, 6)).ToArray()).ToArray()),
            ["retrieval_heads"] = Heads(RetrievalHeads),
            ["always_on_heads"] = Heads(AlwaysOnHeads),
        };
        if (TestsPerHead is not null) json["tests_per_head"] = Matrix(TestsPerHead);
        if (Activation is not null)
            json["activation"] = Matrix(Activation.Select(r => r.Select(v => Math.Round(v, 4)).ToArray()).ToArray());
        return json;
    }

    public void Save(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    public static HeadMap Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Head map '{path}' does not exist.", path);
        JsonNode? node;
        // Repeated keys are refused here: JsonObject accepted them and threw ArgumentException when one was read.
        try
        {
            node = JsonNode.Parse(File.ReadAllText(path),
                documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false });
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).", e); }
        return FromJson(node as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object."), path);
    }

    public static HeadMap FromJson(JsonObject json, string source = "head map")
    {
        try
        {
            // format and version are compared as JSON values, inside the try: GetValue<string>/<int> threw
            // InvalidOperationException for another type (a number as format, "1" or 1.5 as version), which
            // HeadMapCatalog does not skip.
            if (json["format"] is not JsonValue format || format.GetValueKind() != JsonValueKind.String
                || format.GetValue<string>() != FormatName)
                throw new InvalidDataException(
                    $"{source}: not a RetrievalGuard head map (format must be '{FormatName}'). "
                    + "Import other formats with 'rguard heads import'.");
            if (json["version"] is not JsonValue version || !version.TryGetValue(out int v) || v != CurrentVersion)
                throw new InvalidDataException(
                    $"{source}: head-map version {json["version"]?.ToJsonString() ?? "(none)"} is not supported "
                    + $"(this build reads version {CurrentVersion}).");
            var model = json["model"].Deserialize<HeadMapModel>(Options)
                ?? throw new InvalidDataException($"{source}: 'model' is missing.");
            var method = json["method"].Deserialize<HeadMapMethod>(Options)
                ?? throw new InvalidDataException($"{source}: 'method' is missing.");
            var granularity = json["granularity"]?.GetValue<string>() switch
            {
                "query_head" => HeadGranularity.QueryHead,
                "kv_head" => HeadGranularity.KvHead,
                var g => throw new InvalidDataException($"{source}: granularity '{g}' must be query_head or kv_head."),
            };
            var scores = json["scores"].Deserialize<double[][]>()
                ?? throw new InvalidDataException($"{source}: 'scores' is missing.");
            var tests = json["tests_per_head"]?.Deserialize<int[][]>();
            var activation = json["activation"]?.Deserialize<double[][]>();
            CheckValues(source, model, method, scores, tests, activation);
            return new HeadMap(model, method, granularity, scores, tests, activation,
                json["created"]?.GetValue<string>());
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException
            or FormatException)
        {
            throw new InvalidDataException($"{source}: {e.Message}", e);
        }
    }

    /// <summary>
    /// What the constructor's shape check leaves: null rows (a NullReferenceException there), numbers that are not
    /// finite (1e999 reads as infinity, which ranks first and cannot be saved again), and a model shape that the head
    /// arithmetic divides by (TopQueryHeads divided by kv_heads = 0).
    /// </summary>
    private static void CheckValues(string source, HeadMapModel model, HeadMapMethod method, double[][] scores,
        int[][]? tests, double[][]? activation)
    {
        if (model.Layers <= 0 || model.Heads <= 0 || model.KvHeads <= 0 || model.HeadDim <= 0
            || model.Heads % model.KvHeads != 0)
            throw new InvalidDataException($"{source}: model has {model.Layers} layers, {model.Heads} heads, "
                + $"{model.KvHeads} KV heads and head_dim {model.HeadDim}: "
                + "all must be positive, and heads a multiple of KV heads.");
        foreach (var (name, rows) in new[] { ("scores", scores), ("activation", activation) })
            if (rows is not null && (rows.Any(r => r is null) || rows.Any(r => r.Any(x => !double.IsFinite(x)))))
                throw new InvalidDataException($"{source}: '{name}' must be rows of finite numbers.");
        if (tests is not null && tests.Any(r => r is null))
            throw new InvalidDataException($"{source}: 'tests_per_head' must be rows of integers.");
        if (!double.IsFinite(method.Threshold) || method.Depths?.Any(d => !double.IsFinite(d)) == true)
            throw new InvalidDataException($"{source}: method.threshold and method.depths must be finite numbers.");
    }

    internal static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}

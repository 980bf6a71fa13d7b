using RetrievalGuard.Engine.Caches;

namespace RetrievalGuard.Server;

/// <summary>
/// The server's settings: the <c>RetrievalGuard</c> section of appsettings.json, or environment variables such as
/// <c>RetrievalGuard__Model__Path</c>. Every field is listed once here; README, "The server", shows them.
/// </summary>
public sealed class ServerOptions
{
    public const string Section = "RetrievalGuard";

    public ModelSettings Model { get; set; } = new();

    public ServingSettings Serving { get; set; } = new();

    public LimitSettings Limits { get; set; } = new();

    /// <summary>Bearer keys accepted on /v1 and /mcp; none: the server is open (bind it to loopback then).</summary>
    public List<string> ApiKeys { get; set; } = [];

    /// <summary>Requests per minute per key (per client address without keys); 0: no limit.</summary>
    public int RequestsPerMinute { get; set; } = 600;

    public UpstreamSettings Upstream { get; set; } = new();

    /// <summary>What makes these settings unusable, or null: checked before the server starts.</summary>
    public string? Problem() =>
        string.IsNullOrWhiteSpace(Model.Path)
            ? $"Set {Section}:Model:Path (env {Section}__Model__Path) to a model folder."
            : Serving.Problem();
}

public sealed class ModelSettings
{
    /// <summary>A Hugging Face model folder (config.json, *.safetensors, tokenizer).</summary>
    public string Path { get; set; } = "";

    /// <summary>The name clients send as <c>model</c>; empty: the folder's name.</summary>
    public string Id { get; set; } = "";

    public string Device { get; set; } = "cpu";

    public string DType { get; set; } = "auto";

    /// <summary>A head map file; empty: the one whose fingerprint matches the model in a headmaps/ folder above the
    /// model or the working directory, or in RGUARD_HEADMAPS.</summary>
    public string HeadMap { get; set; } = "";

    /// <summary>A calibration file; empty: the matching one beside the head maps.</summary>
    public string Calibration { get; set; } = "";
}

public sealed class ServingSettings
{
    /// <summary>Answers decoded together: rows of the preallocated KV cache.</summary>
    public int MaxSequences { get; set; } = 8;

    /// <summary>Positions per row; 0: the model's context, at most 4,096.</summary>
    public int CapacityPerSequence { get; set; }

    /// <summary>Requests waiting for a row; more get 429 with Retry-After.</summary>
    public int MaxQueued { get; set; } = 64;

    /// <summary>On shutdown, how long running answers may take to finish before they are cut.</summary>
    public double ShutdownSeconds { get; set; } = 30;

    /// <summary>
    /// KV cache of every row: full; headaware (the KV heads of the head map's best retrieval heads whole, the others
    /// sinks + window: more rows in the same memory); streaming; random (the control).
    /// </summary>
    public string CachePolicy { get; set; } = "full";

    /// <summary>
    /// Further policies a request may pick with <c>retrieval_guard.cache</c> (e.g. full beside a headaware default),
    /// each decoded on rows of its own; the KV budget is shared equally with <see cref="CachePolicy"/>.
    /// </summary>
    public string[] MoreCachePolicies { get; set; } = [];

    /// <summary>KV heads headaware/random keep whole; null: <see cref="FullShare"/> of them.</summary>
    public int? FullKvHeads { get; set; }

    /// <summary>Share of KV heads kept whole when <see cref="FullKvHeads"/> is not set; null: 0.25.</summary>
    public double? FullShare { get; set; }

    /// <summary>Attention-sink positions every streaming KV head keeps.</summary>
    public int SinkTokens { get; set; } = 4;

    /// <summary>Recent positions every streaming KV head keeps.</summary>
    public int Window { get; set; } = 128;

    /// <summary>Prefill requests that find free rows together in one pass; unset: on CUDA, not on a CPU (where it
    /// measured no faster).</summary>
    public bool? BatchPrefills { get; set; }

    /// <summary>KV cache to fill with rows (as many as fit under the policy); 0: MaxSequences rows.</summary>
    public double KvBudgetMiB { get; set; }

    internal string? Problem()
    {
        const string at = ServerOptions.Section + ":Serving:";
        if (FullKvHeads is < 0)
            return $"{at}FullKvHeads is {FullKvHeads}; it must be ≥ 0.";
        if (FullShare is double share && !(share > 0 && share <= 1))
            return $"{at}FullShare is {share}; it must be in (0, 1].";
        if (FullKvHeads is not null && FullShare is not null)
            return $"Set {at}FullKvHeads or {at}FullShare, not both.";
        if (SinkTokens < 0 || Window < 1)
            return $"{at}SinkTokens must be ≥ 0 and {at}Window ≥ 1 (they are {SinkTokens} and {Window}).";
        if (KvBudgetMiB < 0)
            return $"{at}KvBudgetMiB is {KvBudgetMiB}; it must be ≥ 0 (0: MaxSequences rows).";
        if (Heads.Caching.CachePlans.NameProblem(CachePolicy) is { } problem)
            return $"{at}CachePolicy: {problem}";
        for (int i = 0; i < MoreCachePolicies.Length; i++)
            if (Heads.Caching.CachePlans.NameProblem(MoreCachePolicies[i]) is { } more)
                return $"{at}MoreCachePolicies:{i}: {more}";
        if ((string[])[CachePolicy, .. MoreCachePolicies] is var all
            && all.GroupBy(n => n.ToLowerInvariant()).FirstOrDefault(g => g.Count() > 1) is { } twice)
            return $"{at}CachePolicy and {at}MoreCachePolicies name '{twice.Key}' twice; a request picks a policy by "
                + "name, so each may appear once.";
        return null;
    }

    /// <summary><see cref="CachePolicy"/>, ranked by <paramref name="map"/> where it needs one.</summary>
    internal KvCachePolicy Policy(Heads.Maps.HeadMap map) => Resolve(CachePolicy, "CachePolicy", map);

    /// <summary><see cref="MoreCachePolicies"/>, each as <see cref="Policy"/> makes the default.</summary>
    internal KvCachePolicy[] MorePolicies(Heads.Maps.HeadMap map) =>
        MoreCachePolicies.Select((name, i) => Resolve(name, $"MoreCachePolicies:{i}", map)).ToArray();

    private KvCachePolicy Resolve(string name, string setting, Heads.Maps.HeadMap map) =>
        Heads.Caching.CachePlans.Resolve(name, FullKvHeads, FullShare, SinkTokens, Window, seed: 1,
            () => map, () => "", $"{ServerOptions.Section}:Serving:{setting}",
            ServerOptions.Section + ":Serving:FullKvHeads");
}

public sealed class LimitSettings
{
    public long MaxBodyBytes { get; set; } = 1 << 20;

    public int MaxMessages { get; set; } = 64;

    public int MaxTokens { get; set; } = 1024;

    public int MaxPassages { get; set; } = 16;

    public int MaxPassageChars { get; set; } = 16_000;

    /// <summary>Items in one /v1/guard/score request.</summary>
    public int MaxScoreItems { get; set; } = 32;

    /// <summary>Characters of an answer to score.</summary>
    public int MaxAnswerChars { get; set; } = 16_000;
}

/// <summary>Proxy mode: answers come from this OpenAI-compatible endpoint and are guarded locally.</summary>
public sealed class UpstreamSettings
{
    /// <summary>e.g. https://api.example.com/v1/ ; empty: the local model answers.</summary>
    public string BaseUrl { get; set; } = "";

    /// <summary>Sent upstream as a Bearer key; never logged.</summary>
    public string ApiKey { get; set; } = "";

    /// <summary>The model asked upstream when the request does not name one.</summary>
    public string Model { get; set; } = "";

    /// <summary>Whole-request timeout, retries included.</summary>
    public double TimeoutSeconds { get; set; } = 60;

    /// <summary>Per-attempt timeout.</summary>
    public double AttemptTimeoutSeconds { get; set; } = 20;

    public int MaxRetries { get; set; } = 2;

    /// <summary>The breaker opens when this share of calls fail within its 30 s window (at least 5 calls).</summary>
    public double BreakerFailureRatio { get; set; } = 0.5;

    public double BreakerBreakSeconds { get; set; } = 15;

    public bool IsEnabled => !string.IsNullOrWhiteSpace(BaseUrl);
}

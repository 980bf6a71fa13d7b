using RetrievalGuard.Engine.Checkpoints;

namespace RetrievalGuard.Engine.Caches;

/// <summary>Which KV cache a generation uses.</summary>
public enum CacheKind
{
    /// <summary>Every position of every KV head (<see cref="StaticKvCache"/>).</summary>
    Full,

    /// <summary>
    /// KV heads that serve retrieval heads keep every position; the others keep sinks + a recent window.
    /// </summary>
    HeadAware,

    /// <summary>Every KV head keeps sinks + a recent window (the StreamingLLM baseline).</summary>
    Streaming,

    /// <summary>As many full KV heads as <see cref="HeadAware"/>, chosen at random (the control).</summary>
    Random,
}

/// <summary>The names of the cache kinds, as settings, command options and requests write them.</summary>
public static class CacheKinds
{
    /// <summary>full, headaware, streaming or random.</summary>
    public static string Name(this CacheKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary>"full, headaware, streaming or random", for messages.</summary>
    public static string Names { get; } = string.Join(", ", Enum.GetValues<CacheKind>().SkipLast(1).Select(Name))
        + " or " + Enum.GetValues<CacheKind>()[^1].Name();

    /// <summary>The kind <paramref name="name"/> names, in any case; null for anything else.</summary>
    public static CacheKind? Find(string name) => Enum.GetValues<CacheKind>()
        .Where(k => string.Equals(k.Name(), name, StringComparison.OrdinalIgnoreCase))
        .Select(k => (CacheKind?)k)
        .FirstOrDefault();
}

/// <summary>
/// A KV cache policy. For <see cref="CacheKind.HeadAware"/> and <see cref="CacheKind.Random"/> the caller names the
/// KV heads that stay full (<see cref="FullKvHeads"/>; the Heads project derives them from a head map: a KV head
/// stays full when any of its query heads is a kept retrieval head). Every other KV head keeps the first
/// <see cref="SinkTokens"/> positions (attention sinks) and the last <see cref="Window"/>.
/// </summary>
public sealed record KvCachePolicy
{
    public CacheKind Kind { get; init; } = CacheKind.Full;

    public int SinkTokens { get; init; } = 4;

    public int Window { get; init; } = 128;

    /// <summary>(layer, KV head) pairs kept whole; ignored by <see cref="CacheKind.Full"/> and
    /// <see cref="CacheKind.Streaming"/>.</summary>
    public IReadOnlyCollection<KvHead> FullKvHeads { get; init; } = [];

    public static KvCachePolicy Full { get; } = new();

    public static KvCachePolicy Streaming(int sinkTokens = 4, int window = 128) =>
        new() { Kind = CacheKind.Streaming, SinkTokens = sinkTokens, Window = window };

    /// <summary>Per layer, per KV head: whether it keeps every position.</summary>
    public bool[][] FullMask(ModelConfig config)
    {
        Validate(config);
        var mask = Enumerable.Range(0, config.NumLayers).Select(_ => new bool[config.NumKvHeads]).ToArray();
        foreach (var head in Kind is CacheKind.HeadAware or CacheKind.Random ? FullKvHeads : [])
            mask[head.Layer][head.Head] = true;
        if (Kind == CacheKind.Full)
            foreach (var layer in mask)
                Array.Fill(layer, true);
        return mask;
    }

    public void Validate(ModelConfig config)
    {
        if (SinkTokens < 0)
            throw new ArgumentOutOfRangeException(nameof(SinkTokens), SinkTokens, "SinkTokens must be ≥ 0.");
        if (Window < 1)
            throw new ArgumentOutOfRangeException(nameof(Window), Window, "Window must be ≥ 1.");
        foreach (var head in FullKvHeads)
            if (head.Layer < 0 || head.Layer >= config.NumLayers || head.Head < 0 || head.Head >= config.NumKvHeads)
                throw new ArgumentOutOfRangeException(nameof(FullKvHeads), head,
                    $"KV head {head} is outside the model's {config.NumLayers} layers × "
                    + $"{config.NumKvHeads} KV heads.");
    }

    public override string ToString() => Kind switch
    {
        CacheKind.Full => "full",
        CacheKind.Streaming => $"streaming (sink {SinkTokens} + window {Window})",
        _ => $"{Kind.Name()} ({FullKvHeads.Count} KV heads full, "
            + $"sink {SinkTokens} + window {Window})",
    };
}

/// <summary>A key/value head: (layer, KV head index).</summary>
public readonly record struct KvHead(int Layer, int Head)
{
    public override string ToString() => $"L{Layer}.KV{Head}";
}

using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Heads.Caching;

/// <summary>
/// KV cache policies from a head map. A KV head's score is the best score of its query heads (the GQA rule: a KV
/// head stays full if any of its query heads is a kept retrieval head); <c>headaware</c> keeps the best-scored KV
/// heads full, <c>random</c> as many seeded random ones (the control), <c>streaming</c> none.
/// </summary>
public static class CachePlans
{
    /// <summary>KV heads best first, by the best score of their query heads (map order breaks ties).</summary>
    public static IReadOnlyList<(KvHead Head, double Score)> RankedKvHeads(HeadMap map)
    {
        var group = map.Model.Heads / Math.Max(1, map.Model.KvHeads);
        return map.Ranked()
            .Select(h => (
                Head: new KvHead(h.Layer, map.Granularity == HeadGranularity.QueryHead ? h.Head / group : h.Head),
                h.Score))
            .GroupBy(h => h.Head)
            .Select(g => (g.Key, g.Max(h => h.Score)))
            .OrderByDescending(h => h.Item2)
            .ThenBy(h => h.Key.Layer).ThenBy(h => h.Key.Head)
            .ToArray();
    }

    /// <summary>How many KV heads a share of them is (at least one).</summary>
    public static int Count(HeadMap map, double share)
    {
        if (!(share > 0 && share <= 1))
            throw new ArgumentOutOfRangeException(nameof(share), share,
                "The share of full KV heads must be in (0, 1].");
        return Math.Max(1, (int)Math.Round(share * map.Model.Layers * map.Model.KvHeads));
    }

    /// <summary>The <paramref name="fullKvHeads"/> best-scored KV heads full, the rest sinks + window.</summary>
    public static KvCachePolicy HeadAware(HeadMap map, int fullKvHeads, int sinkTokens = 4, int window = 128) => new()
    {
        Kind = CacheKind.HeadAware,
        SinkTokens = sinkTokens,
        Window = window,
        FullKvHeads = RankedKvHeads(map).Take(CheckCount(map, fullKvHeads)).Select(h => h.Head).ToArray(),
    };

    /// <summary>
    /// As many full KV heads as <see cref="HeadAware"/>, drawn at random with <paramref name="seed"/>.
    /// </summary>
    public static KvCachePolicy Random(HeadMap map, int fullKvHeads, int seed, int sinkTokens = 4, int window = 128)
    {
        var all = Enumerable.Range(0, map.Model.Layers)
            .SelectMany(l => Enumerable.Range(0, map.Model.KvHeads).Select(h => new KvHead(l, h)))
            .ToArray();
        new System.Random(seed).Shuffle(all);
        return new KvCachePolicy
        {
            Kind = CacheKind.Random, SinkTokens = sinkTokens, Window = window,
            FullKvHeads = all.Take(CheckCount(map, fullKvHeads)).ToArray(),
        };
    }

    /// <summary>A policy by name: full, headaware, streaming or random.</summary>
    public static KvCachePolicy Parse(string name, HeadMap? map, int fullKvHeads, int sinkTokens = 4, int window = 128,
        int seed = 1) => CacheKinds.Find(name) switch
    {
        CacheKind.Full => KvCachePolicy.Full,
        CacheKind.Streaming => KvCachePolicy.Streaming(sinkTokens, window),
        CacheKind.HeadAware => HeadAware(map ?? throw NeedsMap(name), fullKvHeads, sinkTokens, window),
        CacheKind.Random => Random(map ?? throw NeedsMap(name), fullKvHeads, seed, sinkTokens, window),
        _ => throw new ArgumentException($"Unknown cache policy '{name}': use {CacheKinds.Names}."),
    };

    /// <summary>The share of KV heads <c>headaware</c> and <c>random</c> keep whole unless told otherwise.</summary>
    public const double DefaultFullShare = 0.25;

    /// <summary>
    /// The policy a host's settings name (the CLI's options, the server's configuration). Only headaware and random
    /// read the head map (they rank KV heads by it), so <paramref name="findMap"/> is called only for them; the full
    /// KV heads are <paramref name="fullKvHeads"/>, or <paramref name="fullShare"/> of all (default
    /// <see cref="DefaultFullShare"/>). Errors name the setting at fault (<paramref name="policySetting"/>,
    /// <paramref name="countSetting"/>).
    /// </summary>
    public static KvCachePolicy Resolve(string name, int? fullKvHeads, double? fullShare, int sinkTokens, int window,
        int seed, Func<HeadMap?> findMap, Func<string> whyNoMap, string policySetting = "cache policy",
        string countSetting = "full KV heads")
    {
        if (CacheKinds.Find(name) is not (CacheKind.HeadAware or CacheKind.Random))
            return Parse(name, null, 0, sinkTokens, window, seed);
        string kind = name.ToLowerInvariant();
        var map = findMap() ?? throw new FileNotFoundException(
            $"{policySetting} {kind} keeps KV heads whole by the model's head map, and none was found. {whyNoMap()}");
        int total = map.Model.Layers * map.Model.KvHeads;
        int count = fullKvHeads ?? Count(map, fullShare ?? DefaultFullShare);
        if (count > total)
            throw new ArgumentException($"{countSetting} {count} is more than the model's {total} KV heads.");
        return Parse(kind, map, count, sinkTokens, window, seed);
    }

    /// <summary>
    /// Why <paramref name="name"/> is not a policy, or null when it is one: for checking settings before any model or
    /// map is loaded (the names are <see cref="Parse"/>'s, asked without a map).
    /// </summary>
    public static string? NameProblem(string name)
    {
        try
        {
            Parse(name, null, 0);
        }
        catch (ArgumentException e)
        {
            return e.Message;
        }
        catch (InvalidOperationException)
        {
            // headaware or random: known, they read the head map once the model is loaded.
        }
        return null;
    }

    private static InvalidOperationException NeedsMap(string name) =>
        new($"The '{name}' cache policy needs the model's head map (none was found or given).");

    private static int CheckCount(HeadMap map, int count)
    {
        var total = map.Model.Layers * map.Model.KvHeads;
        return count >= 0 && count <= total
            ? count
            : throw new ArgumentOutOfRangeException(nameof(count), count, $"The model has {total} KV heads.");
    }
}

using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Heads.Caching;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Heads.Tests.Caching;

public class CachePlansTests
{
    // 2 layers × 4 query heads over 2 KV heads: query heads 0–1 read KV head 0, heads 2–3 read KV head 1.
    private static readonly HeadMapModel Small = new("LlamaForCausalLM", 2, 4, 2, 8, null, "small");

    private static HeadMap QueryMap(double[][] scores) =>
        new(Small, new HeadMapMethod("copy-paste-retrieval-score", 0.1), HeadGranularity.QueryHead, scores);

    // By best query head: L0.KV0 0.9, L1.KV0 0.5, L1.KV1 0.4, L0.KV1 0.3. By sum L1.KV1 (0.8) would lead instead.
    private static readonly HeadMap Ranked = QueryMap([[0.0, 0.9, 0.2, 0.3], [0.5, 0.0, 0.4, 0.4]]);

    private static HeadMap Organism() => HeadMap.Load(RepoPaths.Path("headmaps", "organism.json"));

    [Fact]
    public void AKvHeadRanksByItsBestQueryHead()
    {
        var ranked = CachePlans.RankedKvHeads(Ranked);

        Assert.Equal([new KvHead(0, 0), new KvHead(1, 0), new KvHead(1, 1), new KvHead(0, 1)],
            ranked.Select(h => h.Head));
        Assert.Equal([0.9, 0.5, 0.4, 0.3], ranked.Select(h => h.Score));
    }

    [Fact]
    public void AKvHeadMapRanksItsOwnScores()
    {
        var map = new HeadMap(Small, new HeadMapMethod("duoattention-gate", 0.5), HeadGranularity.KvHead,
            [[0.1, 0.9], [0.2, 0.3]]);

        Assert.Equal([new KvHead(0, 1), new KvHead(1, 1), new KvHead(1, 0), new KvHead(0, 0)],
            CachePlans.RankedKvHeads(map).Select(h => h.Head));
    }

    [Fact]
    public void TheOrganismsRetrievalHeadsMakeItsTopKvHeads()
    {
        var map = Organism();

        // The four layer-1 retrieval heads (H0, H1, H4, H5) read two KV heads; all 32 KV heads are ranked.
        Assert.Equal([new KvHead(1, 0), new KvHead(1, 2)], CachePlans.RankedKvHeads(map).Take(2).Select(h => h.Head));
        Assert.Equal(32, CachePlans.RankedKvHeads(map).Count);
        Assert.Equal(8, CachePlans.Count(map, 0.25));
    }

    [Fact]
    public void CountsAreSharesOfEveryKvHeadAndAtLeastOne()
    {
        Assert.Equal(1, CachePlans.Count(Ranked, 0.25));
        Assert.Equal(2, CachePlans.Count(Ranked, 0.5));
        Assert.Equal(4, CachePlans.Count(Ranked, 1));
        Assert.Equal(1, CachePlans.Count(Ranked, 0.01));
        foreach (var share in new[] { 0, -0.1, 1.5, double.NaN })
            Assert.Throws<ArgumentOutOfRangeException>(() => CachePlans.Count(Ranked, share));
    }

    [Fact]
    public void HeadAwareKeepsTheTopKvHeadsWhole()
    {
        var policy = CachePlans.HeadAware(Ranked, 2, sinkTokens: 2, window: 64);

        Assert.Equal(CacheKind.HeadAware, policy.Kind);
        Assert.Equal([new KvHead(0, 0), new KvHead(1, 0)], policy.FullKvHeads);
        Assert.Equal((2, 64), (policy.SinkTokens, policy.Window));
        Assert.Empty(CachePlans.HeadAware(Ranked, 0).FullKvHeads);
        var tooMany = Assert.Throws<ArgumentOutOfRangeException>(() => CachePlans.HeadAware(Ranked, 5));
        Assert.Contains("4 KV heads", tooMany.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => CachePlans.HeadAware(Ranked, -1));
    }

    [Fact]
    public void RandomIsSeededAndRarelyPicksTheHeadAwareHeads()
    {
        var map = Organism();
        Assert.Equal(CachePlans.Random(map, 4, seed: 1).FullKvHeads, CachePlans.Random(map, 4, seed: 1).FullKvHeads);
        Assert.NotEqual(CachePlans.Random(map, 4, seed: 1).FullKvHeads, CachePlans.Random(map, 4, seed: 2).FullKvHeads);
        foreach (int count in new[] { 2, 4 })
        {
            var retrieval = CachePlans.HeadAware(map, count).FullKvHeads.ToHashSet();
            var draws = Enumerable.Range(1, 200).Select(seed => CachePlans.Random(map, count, seed)).ToList();
            Assert.All(draws, d => Assert.Equal(count, d.FullKvHeads.Distinct().Count()));
            Assert.All(draws, d => Assert.Equal(CacheKind.Random, d.Kind));
            // A uniform draw of `count` of 32 shares count²/32 heads with headaware on average (0.125 and 0.5).
            double shared = draws.Average(d => d.FullKvHeads.Count(retrieval.Contains));
            Assert.InRange(shared, 0, 2.0 * count * count / 32);
        }
    }

    [Fact]
    public void ParseNamesEveryPolicyAnyCase()
    {
        Assert.Same(KvCachePolicy.Full, CachePlans.Parse("full", null, 0));
        var streaming = CachePlans.Parse("Streaming", null, 0, sinkTokens: 2, window: 32);
        Assert.Equal((CacheKind.Streaming, 2, 32), (streaming.Kind, streaming.SinkTokens, streaming.Window));
        Assert.Equal(CachePlans.HeadAware(Ranked, 2).FullKvHeads, CachePlans.Parse("HEADAWARE", Ranked, 2).FullKvHeads);
        Assert.Equal(CachePlans.Random(Ranked, 2, 7).FullKvHeads,
            CachePlans.Parse("random", Ranked, 2, seed: 7).FullKvHeads);
    }

    [Fact]
    public void ParseRefusesUnknownNamesAndMapPoliciesWithoutAMap()
    {
        var unknown = Assert.Throws<ArgumentException>(() => CachePlans.Parse("lru", Ranked, 2));
        Assert.Contains("'lru'", unknown.Message);
        Assert.Contains("full, headaware, streaming or random", unknown.Message);
        foreach (var name in new[] { "headaware", "random" })
        {
            var noMap = Assert.Throws<InvalidOperationException>(() => CachePlans.Parse(name, null, 2));
            Assert.Contains("head map", noMap.Message);
        }
    }
}

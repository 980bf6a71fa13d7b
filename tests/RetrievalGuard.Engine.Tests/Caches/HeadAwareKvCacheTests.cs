using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Native;
using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Engine.Tests.Support;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Tests.Caches;

public class HeadAwareKvCacheTests
{
    private const int Capacity = 96;

    /// <summary>
    /// The reference: the full cache, with a mask that lets streaming KV heads' query heads see only the sinks and
    /// the window (what masking-only compression does). The compressed cache must give the same numbers.
    /// </summary>
    private sealed class MaskingCache(LlamaModel model, KvCachePolicy policy) : IKvCache
    {
        private readonly StaticKvCache _inner = model.CreateCache(HeadAwareKvCacheTests.Capacity);
        private readonly bool[][] _full = policy.FullMask(model.Config);

        public int BatchSize => 1;
        public int Capacity => _inner.Capacity;
        public int Length => _inner.Length;

        public KvView Update(int layer, Tensor keys, Tensor values, int startPosition)
        {
            var view = _inner.Update(layer, keys, values, startPosition);
            long tokens = keys.shape[2], length = startPosition + tokens;
            var query = Scalars.Range(startPosition, length).unsqueeze(1);
            var key = Scalars.Range(length).unsqueeze(0);
            var causal = key <= query;
            var streaming = causal.logical_and((key < Scalars.Of(policy.SinkTokens))
                .logical_or(query - key < Scalars.Of(policy.Window)));
            int heads = model.Config.NumHeads, group = heads / model.Config.NumKvHeads;
            var mask = stack(Enumerable.Range(0, heads).Select(h => _full[layer][h / group] ? causal : streaming));
            return view with { Mask = mask };
        }

        public void Commit(int length) => _inner.Commit(length);
        public void Truncate(int length) => _inner.Truncate(length);
        public void Dispose() => _inner.Dispose();
    }

    private static KvCachePolicy HeadAware(params KvHead[] full) =>
        new() { Kind = CacheKind.HeadAware, SinkTokens = 2, Window = 6, FullKvHeads = full };

    private static List<TokenStep> Generate(LlamaModel model, IKvCache cache, int promptLength, int chunk,
        AttentionProbe? probe = null, bool force = false)
    {
        var prompt = TinyModels.Tokens(3, promptLength).data<long>().Select(t => (int)t).ToArray();
        var options = new GenerationOptions
        {
            MaxNewTokens = 24, PrefillChunk = chunk, Probe = probe, ForceGeneralPath = force,
        };
        return TokenGenerator.Generate(model, prompt, cache, options, []).ToList();
    }

    public static TheoryData<int, int> Lengths => new()
    {
        { 5, 0 },   // shorter than sinks + window: nothing evicted yet
        { 8, 0 },   // exactly sinks + window
        { 37, 0 },  // one-shot prefill far past the window
        { 37, 5 },  // chunks smaller than the window: the ring wraps between and inside chunks
        { 37, 11 }, // chunks longer than the window: a chunk evicts its own early tokens
    };

    [Theory]
    [MemberData(nameof(Lengths))]
    public void TheCompressedCacheGivesTheNumbersOfMaskingTheFullOne(int promptLength, int chunk)
    {
        using var model = TinyModels.Create(TinyModels.Config(layers: 2, heads: 4, kvHeads: 2));
        var policy = HeadAware(new KvHead(0, 1));   // layer 0: one full KV head, one streaming; layer 1: both streaming
        using var compressed = model.CreateCache(policy, Capacity);
        using var masked = new MaskingCache(model, policy);
        var expected = Generate(model, masked, promptLength, chunk);
        var actual = Generate(model, compressed, promptLength, chunk);
        Assert.Equal(expected.Select(s => s.Id), actual.Select(s => s.Id));
        for (var i = 0; i < expected.Count; i++)
            Assert.True(Math.Abs(expected[i].LogProb - actual[i].LogProb) < 1e-4,
                $"step {i}: {expected[i].LogProb} vs {actual[i].LogProb}");
    }

    [Fact]
    public void EveryKvHeadFullEqualsTheFullCacheExactly()
    {
        using var model = TinyModels.Create();
        var all = Enumerable.Range(0, 2)
            .SelectMany(l => Enumerable.Range(0, 2).Select(h => new KvHead(l, h)))
            .ToArray();
        using var full = model.CreateCache(Capacity);
        using var headAware = model.CreateCache(HeadAware(all), Capacity);
        // Against the full cache on the same (general) path: bit for bit.
        var expected = Generate(model, full, 30, 7, force: true);
        var actual = Generate(model, headAware, 30, 7, force: true);
        Assert.Equal(expected.Select(s => s.Id), actual.Select(s => s.Id));
        Assert.Equal(expected.Select(s => s.LogProb), actual.Select(s => s.LogProb));
        // The static steps (each cache's own): the same tokens, log-probs apart by rounding only.
        full.Truncate(0);
        headAware.Truncate(0);
        var fullStatic = Generate(model, full, 30, 7);
        var headAwareStatic = Generate(model, headAware, 30, 7);
        Assert.NotNull(headAware.StaticDecodeStorage);
        Assert.Equal(fullStatic.Select(s => s.Id), headAwareStatic.Select(s => s.Id));
        Assert.All(fullStatic.Zip(headAwareStatic),
            p => Assert.True(Math.Abs(p.First.LogProb - p.Second.LogProb) < 1e-4));
    }

    [Fact]
    public void StreamingEveryHeadStillDecodesAndDiffersFromFullOnceTheWindowBites()
    {
        using var model = TinyModels.Create();
        using var full = model.CreateCache(Capacity);
        using var streaming = model.CreateCache(KvCachePolicy.Streaming(2, 6), Capacity);
        var expected = Generate(model, full, 30, 0);
        var actual = Generate(model, streaming, 30, 0);
        Assert.NotEqual(expected.Select(s => s.LogProb), actual.Select(s => s.LogProb));
        Assert.All(actual, s => Assert.True(float.IsFinite(s.LogProb)));
    }

    [Fact]
    public void ProbedFullHeadsSeeWhatTheyDoWithTheFullCacheAndStreamingHeadsOnlyTheirSlots()
    {
        using var model = TinyModels.Create();
        HeadIndex[] heads = [new(0, 0), new(0, 2)];  // layer 0: KV head 0 (streaming), KV head 1 (full); probe order
        using var probeFull = model.CreateProbe(heads);
        using var probeCompressed = model.CreateProbe(heads);
        using var full = model.CreateCache(Capacity);
        using var masked = new MaskingCache(model, HeadAware(new KvHead(0, 1)));
        using var compressed = model.CreateCache(HeadAware(new KvHead(0, 1)), Capacity);
        var reference = Generate(model, masked, 30, 4, probeFull);
        var actual = Generate(model, compressed, 30, 4, probeCompressed);
        for (var i = 0; i < actual.Count; i++)
            for (var h = 0; h < heads.Length; h++)
            {
                var (want, got) = (reference[i].Attention![h], actual[i].Attention![h]);
                Assert.Equal(want.Length, got.Length);
                for (var p = 0; p < want.Length; p++)
                    Assert.True(Math.Abs(want[p] - got[p]) < 1e-5, $"step {i} head {h} position {p}");
            }
        // The streaming head's weight sits on sinks and the window only.
        var last = actual[^1];
        var position = last.Position;
        var nonzero = Enumerable.Range(0, last.Attention![0].Length).Where(p => last.Attention[0][p] != 0).ToArray();
        Assert.True(nonzero.All(p => p < 2 || p > position - 7), $"position {position}: {string.Join(",", nonzero)}");
    }

    [Fact]
    public void TheMemoryAccountIsTheBuffersExactlyAndRingsDoNotGrowWithCapacity()
    {
        using var model = TinyModels.Create();    // 2 layers, 2 KV heads, head dim 8, fp32
        using var cache = new HeadAwareKvCache(
            model.Config, HeadAware(new KvHead(0, 1)), 1000, ScalarType.Float32, CPU);
        long fullHead = 2L * 1000 * 8 * 4, ringHead = 2L * (2 + 6) * 8 * 4;
        Assert.Equal(1 * fullHead + 3 * ringHead, cache.SizeInBytes);
        Assert.Equal(4 * fullHead, cache.FullSizeInBytes);
        using var fullCache = model.CreateCache(1000);
        Assert.True(fullCache.SizeInBytes >= cache.FullSizeInBytes);
    }

    [Fact]
    public void AShortCacheHoldsNoMoreThanTheFullOne()
    {
        using var model = TinyModels.Create();
        using var cache = new HeadAwareKvCache(model.Config, KvCachePolicy.Streaming(2, 6), 5, ScalarType.Float32, CPU);
        Assert.Equal(5, cache.RingLength);
        Assert.Equal(cache.FullSizeInBytes, cache.SizeInBytes);
        var prompt = TinyModels.Tokens(3, 4).data<long>().Select(t => (int)t).ToArray();
        var steps = TokenGenerator.Generate(model, prompt, cache, new GenerationOptions { MaxNewTokens = 1 }, []);
        Assert.Single(steps);
    }

    [Theory]
    [InlineData(0, 0, -1)]
    [InlineData(1, 5, 1)]
    [InlineData(2, 2, -1)]
    [InlineData(2, 3, 2)]
    [InlineData(2, 8, 2)]
    [InlineData(2, 9, 8)]
    [InlineData(7, 8, 7)]
    [InlineData(7, 14, 13)]
    [InlineData(3, 14, 9)]
    public void RingSlotsHoldTheLatestPositionOfTheirResidue(int slot, int length, int expected)
    {
        // Sinks 2 + window 6: an 8-slot ring, after `length` positions were written.
        using var last = tensor(new long[] { length - 1 }, dtype: int64);
        using var positions = HeadAwareKvStorage.SlotPositions(last, HeadAware(), 8);
        Assert.Equal(expected, positions[0, slot].item<long>());
    }

    [Fact]
    public void TheCacheRefusesToGoBackAndNamesBadHeads()
    {
        using var model = TinyModels.Create();
        using var cache = model.CreateCache(HeadAware(new KvHead(0, 0)), Capacity);
        Generate(model, cache, 12, 0);
        Assert.Throws<NotSupportedException>(() => cache.Truncate(5));
        cache.Truncate(0);
        Assert.Equal(0, cache.Length);
        var bad = Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateCache(HeadAware(new KvHead(5, 0)), 8));
        Assert.Contains("L5.KV0", bad.Message, StringComparison.Ordinal);
    }
}

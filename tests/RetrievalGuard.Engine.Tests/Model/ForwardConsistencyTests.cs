using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Tests.Support;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Tests.Model;

/// <summary>
/// The cached paths (prefill, chunked prefill, one-token decode with folded GQA) must equal a cache-free pass.
/// </summary>
public class ForwardConsistencyTests
{
    public static TheoryData<int, int, int?> Shapes => new()
    {
        { 4, 4, null },   // multi-head
        { 4, 2, null },   // GQA, 2 query heads per KV head
        { 4, 1, null },   // multi-query
        { 4, 2, 5 },      // sliding window shorter than the sequence
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void DecodingTokenByTokenMatchesOnePass(int heads, int kvHeads, int? window)
    {
        using var model = TinyModels.Create(TinyModels.Config(heads: heads, kvHeads: kvHeads, slidingWindow: window));
        using var _ = no_grad();
        var tokens = TinyModels.Tokens(3, 12, batch: 2);
        var full = model.forward(tokens);

        using var cache = model.CreateCache(16, batchSize: 2);
        var prefill = model.forward(tokens[.., ..5], new ForwardOptions { Cache = cache });
        AssertClose(full[.., ..5], prefill, 1e-5);
        for (int i = 5; i < 12; i++)
        {
            var step = model.forward(tokens[.., i..(i + 1)], new ForwardOptions { Cache = cache, StartPosition = i });
            AssertClose(full[.., i..(i + 1)], step, 1e-5);
        }
        Assert.Equal(12, cache.Length);
    }

    [Fact]
    public void ChunkedPrefillMatchesOnePassAndKeepsOnlyRequestedLogits()
    {
        using var model = TinyModels.Create(TinyModels.Config(slidingWindow: 7));
        using var _ = no_grad();
        var tokens = TinyModels.Tokens(4, 20);
        var full = model.forward(tokens);
        using var cache = model.CreateCache(32);
        model.forward(tokens[.., ..8], new ForwardOptions { Cache = cache });
        var last = model.forward(tokens[.., 8..],
            new ForwardOptions { Cache = cache, StartPosition = 8, LogitsToKeep = 1 });
        Assert.Equal(new long[] { 1, 1, 97 }, last.shape);
        AssertClose(full[.., 19..], last, 1e-5);
    }

    [Fact]
    public void TiedEmbeddingsAndBiasesWork()
    {
        using var model = TinyModels.Create(TinyModels.Config(bias: true, tie: true));
        Assert.Same(model.embed_tokens, model.lm_head.weight);
        using var _ = no_grad();
        var tokens = TinyModels.Tokens(5, 6);
        using var cache = model.CreateCache(8);
        var full = model.forward(tokens);
        var cached = model.forward(tokens, new ForwardOptions { Cache = cache });
        AssertClose(full, cached, 1e-6);
    }

    [Fact]
    public void CacheOverflowAndMisplacedStartAreRefusedClearly()
    {
        using var model = TinyModels.Create();
        using var _ = no_grad();
        using var cache = model.CreateCache(4);
        var overflow = Assert.Throws<InvalidOperationException>(() =>
            model.forward(TinyModels.Tokens(1, 6), new ForwardOptions { Cache = cache }));
        Assert.Contains("capacity 4", overflow.Message);
        var gap = Assert.Throws<ArgumentException>(() =>
            model.forward(TinyModels.Tokens(1, 1), new ForwardOptions { Cache = cache, StartPosition = 2 }));
        Assert.Contains("does not continue the cache", gap.Message);
    }

    /// <summary>Max abs difference within <paramref name="tolerance"/> × max(1, largest |expected|).</summary>
    internal static void AssertClose(Tensor expected, Tensor actual, double tolerance)
    {
        Assert.Equal(expected.shape, actual.shape);
        double diff = (expected.to(float32) - actual.to(float32)).abs().max().item<float>();
        double scale = Math.Max(1, expected.abs().max().item<float>());
        Assert.True(diff <= tolerance * scale, $"max abs diff {diff} > {tolerance} × {scale}");
    }
}

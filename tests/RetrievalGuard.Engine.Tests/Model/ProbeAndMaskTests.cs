using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Engine.Tests.Support;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Tests.Model;

public class ProbeAndMaskTests
{
    [Fact]
    public void ProbeWeightsAreCausalDistributionsOfTheChosenHeads()
    {
        using var model = TinyModels.Create(TinyModels.Config(layers: 3, heads: 4, kvHeads: 2));
        using var _ = no_grad();
        using var probe =
            model.CreateProbe([new HeadIndex(2, 3), new HeadIndex(0, 1), new HeadIndex(2, 0)], queryTokens: 3);
        model.forward(TinyModels.Tokens(9, 10), new ForwardOptions { Probe = probe });
        Assert.Equal(new[] { new HeadIndex(0, 1), new HeadIndex(2, 0), new HeadIndex(2, 3) }, probe.Heads);
        Assert.Equal(new long[] { 1, 3, 3, 10 }, probe.Weights!.shape);
        var weights = probe.ReadWeights();
        for (int h = 0; h < 3; h++)
            for (int q = 0; q < 3; q++)
            {
                int position = 7 + q;
                Assert.Equal(1.0, weights[h][q].Sum(), 4);
                Assert.All(weights[h][q].Skip(position + 1), w => Assert.Equal(0f, w));
            }
    }

    [Fact]
    public void ProbeDuringDecodeMatchesProbeOnAFullPass()
    {
        using var model = TinyModels.Create(TinyModels.Config(heads: 4, kvHeads: 1));
        using var _ = no_grad();
        var tokens = TinyModels.Tokens(10, 9);
        HeadIndex[] heads = [new(0, 2), new(1, 1)];
        using var fullProbe = model.CreateProbe(heads);
        model.forward(tokens, new ForwardOptions { Probe = fullProbe });
        using var stepProbe = model.CreateProbe(heads);
        using var cache = model.CreateCache(9);
        model.forward(tokens[.., ..8], new ForwardOptions { Cache = cache });
        model.forward(tokens[.., 8..], new ForwardOptions { Cache = cache, StartPosition = 8, Probe = stepProbe });
        ForwardConsistencyTests.AssertClose(fullProbe.Weights!, stepProbe.Weights!, 1e-6);
    }

    [Fact]
    public void MaskingAHeadEqualsZeroingItsSliceOfTheOutputProjection()
    {
        var config = TinyModels.Config();
        using var masked = TinyModels.Create(config, seed: 4);
        using var edited = TinyModels.Create(config, seed: 4);
        using var _ = no_grad();
        // Head 1 of layer 0 writes columns [8, 16) of o_proj's input (head_dim 8).
        edited.layers[0].self_attn.o_proj.weight.narrow(1, 8, 8).zero_();
        var tokens = TinyModels.Tokens(2, 7);
        var expected = edited.forward(tokens);
        var actual = masked.forward(tokens,
            new ForwardOptions { HeadMask = masked.CreateHeadMask([new HeadIndex(0, 1)]) });
        ForwardConsistencyTests.AssertClose(expected, actual, 1e-5);
        var unmasked = masked.forward(tokens);
        Assert.True((unmasked - actual).abs().max().item<float>() > 1e-3, "masking a head changed nothing");
    }

    [Fact]
    public void HeadsOutsideTheModelAreRefused()
    {
        using var model = TinyModels.Create();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => model.CreateProbe([new HeadIndex(2, 0)]));
        Assert.Contains("2 layers of 4 heads", e.Message);
        Assert.Throws<FormatException>(() => HeadIndex.Parse("3_1"));
        Assert.Equal(new HeadIndex(14, 3), HeadIndex.Parse("14-3"));
    }
}

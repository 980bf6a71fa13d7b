using RetrievalGuard.Engine.Tests.Support;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Tests.Model;

public class InitializationTests
{
    [Fact]
    public void WeightsArePureInTheSeedWhateverElseDrawsFromTheDefaultGenerator()
    {
        using var first = TinyModels.Create(seed: 7);
        manual_seed(123);
        using (NewDisposeScope())
            randn(1000);
        using var second = TinyModels.Create(seed: 7);

        foreach (var ((name, a), (_, b)) in first.named_parameters().Zip(second.named_parameters()))
            Assert.True(a.equal(b).all().item<bool>(), $"{name} differs between two models of seed 7");
    }

    [Fact]
    public void DrawsAreThoseTheDefaultGeneratorGivesAfterManualSeed()
    {
        // Models trained before the engine had a generator of its own (the organism) were seeded this way.
        using var model = TinyModels.Create(seed: 11);
        var (name, parameter) = model.named_parameters().First(p => !p.name.Contains("norm", StringComparison.Ordinal));
        using var scope = NewDisposeScope();
        manual_seed(11);
        var expected = empty(parameter.shape).normal_(0, 0.5);

        Assert.True(expected.equal(parameter).all().item<bool>(), $"{name}: draws differ from manual_seed's");
    }
}

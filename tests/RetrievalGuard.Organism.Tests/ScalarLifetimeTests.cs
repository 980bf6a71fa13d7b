using RetrievalGuard.Organism.Training;

namespace RetrievalGuard.Organism.Tests;

/// <summary>Training hands libtorch only Scalars that stay alive (RetrievalGuard.Engine.Native.Scalars).</summary>
public class ScalarLifetimeTests
{
    [Fact]
    public void OrganismHandsLibtorchOnlyScalarsThatStayAlive() =>
        Assert.Empty(ScalarLifetimeScan.Problems(typeof(Trainer).Assembly));
}

using RetrievalGuard.Heads.Detection;

namespace RetrievalGuard.Heads.Tests;

/// <summary>Head detection and cache evaluation hand libtorch only Scalars that stay alive
/// (RetrievalGuard.Engine.Native.Scalars).</summary>
public class ScalarLifetimeTests
{
    [Fact]
    public void HeadsHandLibtorchOnlyScalarsThatStayAlive() =>
        Assert.Empty(ScalarLifetimeScan.Problems(typeof(CopyPasteScorer).Assembly));

    /// <summary>Tests run in parallel under each other's garbage, so they follow the rule too.</summary>
    [Fact]
    public void TheseTestsHandLibtorchOnlyScalarsThatStayAlive() =>
        Assert.Empty(ScalarLifetimeScan.Problems(typeof(ScalarLifetimeTests).Assembly));
}

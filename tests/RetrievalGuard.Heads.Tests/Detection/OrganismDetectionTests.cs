using RetrievalGuard.Engine;
using RetrievalGuard.Heads.Detection;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Heads.Tests.Detection;

/// <summary>End to end on the shipped organism: a small detection grid finds the shipped map's top heads.</summary>
public class OrganismDetectionTests
{

    [Fact]
    public void ASmallGridFindsTheShippedTopHeads()
    {
        string dir = RepoPaths.Path("samples", "models", "organism");
        using var model = LanguageModel.Load(dir);
        var shipped = HeadMapCatalog.FindFor(model);
        Assert.NotNull(shipped);
        Assert.Equal(Path.GetFileName(dir), shipped!.Model.Name);

        var tests = NeedleTests.Grid(RepoPaths.Path("samples", "corpus"), [256, 512], depths: 3, needles: 1, seed: 42,
            model.Tokenizer.CountTokens);
        var map = new RetrievalHeadDetector(model).Detect(tests, new HeadMapMethod("copy-paste-retrieval-score", 0.1),
            ModelFingerprint.Compute(dir), "organism");
        Assert.Equal(6, map.Method.TestsTotal);
        Assert.True(map.Method.TestsCounted >= 5);
        var expected = shipped.RetrievalHeads.Take(4).Select(h => (h.Layer, h.Head)).ToHashSet();
        var found = map.Ranked().Take(6).Select(h => (h.Layer, h.Head)).ToHashSet();
        Assert.True(expected.IsSubsetOf(found),
            $"shipped top 4 {string.Join(" ", expected)} not all in detected top 6 {string.Join(" ", found)}");
        // Sparse: most heads never copy.
        Assert.True(map.RetrievalHeads.Count <= 0.15 * map.TotalUnits);
    }
}

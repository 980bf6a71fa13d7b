using RetrievalGuard.Data;

namespace RetrievalGuard.Data.Tests;

public class MixtureTests
{
    [Fact]
    public void BestRunProportionsHoldOverTenThousandDraws()
    {
        var mixture = Mixture.BestRun;
        var rng = new Random(11);
        var counts = Enumerable.Range(0, 10_000).Select(_ => mixture.Pick(rng)).CountBy(k => k).ToDictionary();

        Assert.InRange(counts[TaskKind.Text] / 10_000.0, 0.08, 0.12);
        Assert.InRange(counts[TaskKind.Niah] / 10_000.0, 0.43, 0.47);
        Assert.InRange(counts[TaskKind.Rag] / 10_000.0, 0.15, 0.19);
        Assert.InRange(counts[TaskKind.ClosedBook] / 10_000.0, 0.21, 0.25);
        Assert.InRange(counts[TaskKind.Conflict] / 10_000.0, 0.03, 0.07);
        Assert.False(counts.ContainsKey(TaskKind.Unanswerable));
    }

    [Fact]
    public void WeightsNeedNotSumToOneAndZeroWeightsAreNeverPicked()
    {
        var mixture = new Mixture(new MixtureWeights(Text: 0, Niah: 3, Rag: 1, ClosedBook: 0, Conflict: 0));
        var rng = new Random(2);
        var kinds = Enumerable.Range(0, 10_000).Select(_ => mixture.Pick(rng)).ToArray();

        Assert.All(kinds, k => Assert.Contains(k, new[] { TaskKind.Niah, TaskKind.Rag }));
        Assert.InRange(kinds.Count(k => k == TaskKind.Niah) / 10_000.0, 0.73, 0.77);
        Assert.Equal(0.75, mixture.Probability(TaskKind.Niah), 6);
    }

    [Theory]
    [InlineData(0, 0, 0, 0, 0)]
    [InlineData(-1, 1, 1, 1, 1)]
    [InlineData(double.NaN, 1, 1, 1, 1)]
    [InlineData(double.PositiveInfinity, 1, 1, 1, 1)]
    public void BadWeightsAreArgumentErrors(double text, double niah, double rag, double closedBook, double conflict)
    {
        Assert.Throws<ArgumentException>(() => new Mixture(new MixtureWeights(text, niah, rag, closedBook, conflict)));
    }
}

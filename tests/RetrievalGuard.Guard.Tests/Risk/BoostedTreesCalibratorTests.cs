using System.Text.Json;
using RetrievalGuard.Guard.Evaluation;
using RetrievalGuard.Guard.Risk;

namespace RetrievalGuard.Guard.Tests.Risk;

public class BoostedTreesCalibratorTests
{
    private static readonly string[] Names = ["copy", "entity_match"];

    /// <summary>
    /// Hallucinated when the heads copied (copy high) from someone else's sentence (entity match low), or when
    /// nothing was copied from the right sentence: an interaction no weighted sum of the two features expresses.
    /// </summary>
    private static (IReadOnlyList<double>[] Features, bool[] Labels) Interaction(int count, int seed)
    {
        var random = new Random(seed);
        var features = new IReadOnlyList<double>[count];
        var labels = new bool[count];
        for (var i = 0; i < count; i++)
        {
            double copy = random.NextDouble(), match = random.NextDouble();
            features[i] = [copy, match];
            labels[i] = (copy > 0.5) != (match > 0.5);
        }
        return (features, labels);
    }

    [Fact]
    public void LearnsAnInteractionALogisticCalibratorCannot()
    {
        var (features, labels) = Interaction(600, seed: 3);
        var boosted = BoostedTreesCalibrator.CrossValidatedPredictions(features, labels, Names);
        var logistic = LogisticCalibrator.CrossValidatedPredictions(features, labels, Names);
        Assert.True(BinaryMetrics.Auroc(boosted, labels) > 0.95, $"boosted {BinaryMetrics.Auroc(boosted, labels)}");
        Assert.InRange(BinaryMetrics.Auroc(logistic, labels), 0.3, 0.7);
    }

    [Fact]
    public void FitsAreDeterministicAndRoundTripThroughJson()
    {
        var (features, labels) = Interaction(300, seed: 5);
        var first = BoostedTreesCalibrator.Fit(features, labels, Names);
        var second = BoostedTreesCalibrator.Fit(features, labels, Names);
        var loaded = BoostedTreesModel.FromJson(first.ToJson());
        Assert.Equal(300, first.Trees.Count);
        foreach (var row in features.Take(50))
        {
            Assert.Equal(first.Predict(row), second.Predict(row));
            Assert.Equal(first.Predict(row), loaded.Predict(row), 12);
            Assert.InRange(first.Predict(row), 0, 1);
        }
        // Leaves keep at least MinLeaf training rows: no tree has more than 2^depth leaves.
        Assert.All(first.Trees, t => Assert.InRange(t.Feature.Count(f => f < 0), 1, 8));
    }

    [Fact]
    public void BadInputNamesTheRowFeatureOrNode()
    {
        IReadOnlyList<double>[] features = [[0.1, 1], [0.2, double.NaN], [0.3, 0]];
        var nan = Assert.Throws<ArgumentException>(() =>
            BoostedTreesCalibrator.Fit(features, [true, false, true], Names));
        Assert.Contains("features[1][1] ('entity_match') is NaN", nan.Message, StringComparison.Ordinal);

        var model = BoostedTreesCalibrator.Fit(Interaction(100, 1).Features, Interaction(100, 1).Labels, Names,
            new BoostedTreesCalibrator.Options { Rounds = 5 });
        var count = Assert.Throws<ArgumentException>(() => model.Predict([0.5]));
        Assert.Contains("has 1 values but 2 features are named", count.Message, StringComparison.Ordinal);

        var tree = new RegressionTree([0, -1, -1], [0.5, 0, 0], [0, -1, -1], [2, -1, -1], [0, 1, -1]);
        var error = Assert.Throws<ArgumentException>(() =>
            new BoostedTreesModel(Names, 0, 0.1, [tree], 3, 20, 1));
        Assert.Contains("trees[0], node 0: children must be later nodes", error.Message, StringComparison.Ordinal);
        var (good, labels) = Interaction(100, 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => BoostedTreesCalibrator.Fit(good, labels, Names,
            new BoostedTreesCalibrator.Options { MaxDepth = 0 }));
    }
}

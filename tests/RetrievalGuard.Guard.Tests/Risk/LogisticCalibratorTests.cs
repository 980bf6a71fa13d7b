using RetrievalGuard.Guard.Evaluation;
using RetrievalGuard.Guard.Risk;

namespace RetrievalGuard.Guard.Tests.Risk;

public sealed class LogisticCalibratorTests
{
    private static readonly string[] TwoFeatures = ["entropy", "margin"];

    [Fact]
    public void RecoversTheCoefficientsOfTheModelThatDrewTheData()
    {
        // Truth on raw features: logit = 0.3 + 1.5·x₁ − 2.0·x₂, x₁ ~ U(−1, 2), x₂ ~ U(−1.5, 1).
        var (features, labels) = DrawFromLogisticModel(rows: 4000, seed: 42);

        var model = LogisticCalibrator.Fit(features, labels, TwoFeatures);

        // Back to raw scale: w_raw = w / scale, b_raw = b − Σ w·mean / scale.
        var rawWeights = model.Weights.Select((w, j) => w / model.Scales[j]).ToArray();
        var rawBias = model.Bias - model.Weights.Select((w, j) => w * model.Means[j] / model.Scales[j]).Sum();
        Assert.Equal(1.5, rawWeights[0], 0.15);
        Assert.Equal(-2.0, rawWeights[1], 0.15);
        Assert.Equal(0.3, rawBias, 0.15);
    }

    [Fact]
    public void PerfectlySeparableDataGivesFiniteWeightsAndOrderedProbabilities()
    {
        double[] xs = [-2, -1.5, -1, 1, 1.5, 2];
        var features = xs.Select(x => (IReadOnlyList<double>)[x]).ToArray();
        bool[] labels = [false, false, false, true, true, true];

        var model = LogisticCalibrator.Fit(features, labels, ["margin"]);

        Assert.All(model.Weights.Append(model.Bias), w => Assert.True(double.IsFinite(w), $"weight {w}"));
        var probabilities = features.Select(model.Predict).ToArray();
        Assert.All(probabilities, p => Assert.True(p is > 0 and < 1, $"probability {p}"));
        Assert.Equal(probabilities.Order(), probabilities);
        Assert.True(probabilities[2] < 0.5 && probabilities[3] > 0.5, string.Join(", ", probabilities));
    }

    [Fact]
    public void AConstantFeatureGetsNoWeightAndChangesNoPrediction()
    {
        var (features, labels) = DrawFromLogisticModel(rows: 500, seed: 5);
        // 1e6 + 0.1 does not average back to itself exactly: rounding must not pass for spread.
        var withConstant = features.Select(row => (IReadOnlyList<double>)[.. row, 1e6 + 0.1]).ToArray();

        var plain = LogisticCalibrator.Fit(features, labels, TwoFeatures);
        var padded = LogisticCalibrator.Fit(withConstant, labels, [.. TwoFeatures, "constant"]);

        Assert.Equal(1.0, padded.Scales[2]);
        Assert.Equal(0.0, padded.Weights[2], 1e-9);
        for (var i = 0; i < 20; i++)
            Assert.Equal(plain.Predict(features[i]), padded.Predict(withConstant[i]), 1e-9);
    }

    [Fact]
    public void JsonRoundTripKeepsEveryPrediction()
    {
        var (features, labels) = DrawFromLogisticModel(rows: 300, seed: 9);
        var model = LogisticCalibrator.Fit(features, labels, TwoFeatures, l2: 0.5);

        var json = model.ToJson();
        var restored = LogisticModel.FromJson(json);

        Assert.Contains("\"feature_names\"", json, StringComparison.Ordinal);
        Assert.Contains("\"l2\": 0.5", json, StringComparison.Ordinal);
        Assert.Equal(model.FeatureNames, restored.FeatureNames);
        Assert.All(features, row => Assert.Equal(model.Predict(row), restored.Predict(row)));
    }

    [Fact]
    public void LogitIsThePredictionBeforeTheSigmoid()
    {
        var model = new LogisticModel(TwoFeatures, [1, 2], [2, 4], [0.5, -1], bias: 0.25, l2: 0);
        // z = ((3 − 1)/2, (6 − 2)/4) = (1, 1); logit = 0.25 + 0.5·1 − 1·1 = −0.25; p = 1/(1 + e^0.25).
        Assert.Equal(-0.25, model.Logit([3, 6]), 1e-15);
        Assert.Equal(1 / (1 + Math.Exp(0.25)), model.Predict([3, 6]), 1e-15);
        // Huge logits of either sign saturate instead of overflowing to NaN.
        Assert.Equal(1.0, model.Predict([1e300, -1e300]));
        Assert.Equal(0.0, model.Predict([-1e300, 1e300]));
    }

    [Fact]
    public void CrossValidatedPredictionsScoreEveryRowOutOfFold()
    {
        var (features, labels) = DrawFromLogisticModel(rows: 600, seed: 11);

        var predictions = LogisticCalibrator.CrossValidatedPredictions(
            features, labels, TwoFeatures, folds: 5, seed: 3);

        Assert.Equal(features.Length, predictions.Length);
        Assert.All(predictions, p => Assert.True(p is > 0 and < 1, $"probability {p}"));
        Assert.True(BinaryMetrics.Auroc(predictions, labels) > 0.8);
        Assert.Equal(predictions, LogisticCalibrator.CrossValidatedPredictions(features, labels, TwoFeatures, 5, 3));
    }

    [Fact]
    public void CrossValidationNeedsTwoItemsOfEachClass()
    {
        IReadOnlyList<double>[] features = [[0.1], [0.2], [0.3]];
        var error = Assert.Throws<ArgumentException>(
            () => LogisticCalibrator.CrossValidatedPredictions(features, [true, false, false], ["margin"]));
        Assert.Contains("1 positive (hallucinated) item", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PredictNamesTheExpectedAndActualFeatureCount()
    {
        var model = new LogisticModel(TwoFeatures, [0, 0], [1, 1], [1, 1], bias: 0, l2: 0);
        var error = Assert.Throws<ArgumentException>(() => model.Predict([1, 2, 3]));
        Assert.Contains("features has 3 values but 2 features are named (entropy, margin)", error.Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public void PredictNamesANonFiniteFeature()
    {
        var model = new LogisticModel(TwoFeatures, [0, 0], [1, 1], [1, 1], bias: 0, l2: 0);
        var error = Assert.Throws<ArgumentException>(() => model.Predict([1, double.PositiveInfinity]));
        Assert.Contains("'margin'", error.Message, StringComparison.Ordinal);
        Assert.Contains("Infinity", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FitNamesTheRowAndFeatureOfANaN()
    {
        IReadOnlyList<double>[] features = [[0.1, 1], [0.2, double.NaN], [0.3, 2]];
        var error = Assert.Throws<ArgumentException>(
            () => LogisticCalibrator.Fit(features, [true, false, true], TwoFeatures));
        Assert.Contains("features[1][1] ('margin') is NaN", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FitRejectsASingleClassAndMismatchedCounts()
    {
        IReadOnlyList<double>[] features = [[0.1, 1], [0.2, 2]];

        var singleClass = Assert.Throws<ArgumentException>(
            () => LogisticCalibrator.Fit(features, [false, false], TwoFeatures));
        Assert.Contains("no positive (hallucinated) item", singleClass.Message, StringComparison.Ordinal);

        var mismatch = Assert.Throws<ArgumentException>(
            () => LogisticCalibrator.Fit(features, [false, true, true], TwoFeatures));
        Assert.Contains("features has 2 rows but labels has 3", mismatch.Message, StringComparison.Ordinal);

        var names = Assert.Throws<ArgumentException>(
            () => LogisticCalibrator.Fit(features, [false, true], ["entropy"]));
        Assert.Contains("features[0] has 2 values but 1 features are named", names.Message, StringComparison.Ordinal);
    }

    /// <summary>Rows of (x₁, x₂) labelled by drawing from sigmoid(0.3 + 1.5·x₁ − 2.0·x₂).</summary>
    private static (IReadOnlyList<double>[] Features, bool[] Labels) DrawFromLogisticModel(int rows, int seed)
    {
        var rng = new Random(seed);
        var features = new IReadOnlyList<double>[rows];
        var labels = new bool[rows];
        for (var i = 0; i < rows; i++)
        {
            double x1 = -1 + 3 * rng.NextDouble(), x2 = -1.5 + 2.5 * rng.NextDouble();
            features[i] = [x1, x2];
            labels[i] = rng.NextDouble() < 1 / (1 + Math.Exp(-(0.3 + 1.5 * x1 - 2.0 * x2)));
        }
        return (features, labels);
    }
}

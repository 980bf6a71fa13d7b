using System.Text.Json.Nodes;
using RetrievalGuard.Guard.Evaluation;
using RetrievalGuard.Guard.Prompting;
using RetrievalGuard.Guard.Risk;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Guard.Tests.Evaluation;

public class GuardFittingTests
{
    /// <summary>
    /// The guard's two features interact (hallucinated when exactly one is high); a baseline's one feature is noise.
    /// </summary>
    private static (ScoringMethod[] Methods, ScoredAnswer[] Data) Synthetic()
    {
        var random = new Random(7);
        ScoringMethod[] methods =
        [
            new(GuardCalibration.GuardMethod, "guard", ["copy", "entity_match"], _ => []),
            new("noise", "a baseline", ["x"], _ => []),
        ];
        var data = Enumerable.Range(0, 400).Select(i =>
        {
            double copy = random.NextDouble(), match = random.NextDouble();
            var hallucinated = (copy > 0.5) != (match > 0.5);
            var answer = new LabelledAnswer($"a{i}", Passage.Numbered(["p"]), "q?", "a", hallucinated,
                new Dictionary<string, string>());
            return new ScoredAnswer(answer, [[copy, match], [random.NextDouble()]]);
        }).ToArray();
        return (methods, data);
    }

    [Theory]
    [InlineData(CalibratorKind.BoostedTrees, "boosted_trees", "logistic")]
    [InlineData(CalibratorKind.Logistic, "logistic", "boosted_trees")]
    public void EveryMethodIsFittedWithTheChosenCalibratorAndTheGuardIsCrossValidatedWithTheOther(
        CalibratorKind kind, string chosen, string other)
    {
        var (methods, data) = Synthetic();
        var calibration = GuardFitting.Fit(new HeadMapModel("Llama", 1, 1, 1, 1, null), methods, data, "synthetic",
            calibrator: kind);

        var expectedType = kind == CalibratorKind.Logistic ? typeof(LogisticModel) : typeof(BoostedTreesModel);
        Assert.All(calibration.Methods, m => Assert.IsType(expectedType, m.Model));
        Assert.Equal(chosen, calibration.Fit["calibrator"]!.GetValue<string>());
        var alternative = (JsonObject)calibration.Fit["guard_with_other_calibrator"]!;
        Assert.Equal(other, alternative["calibrator"]!.GetValue<string>());
        var guard = calibration.Fit["cross_validated"]![GuardCalibration.GuardMethod]!["auroc"]!.GetValue<double>();
        var noise = calibration.Fit["cross_validated"]!["noise"]!["auroc"]!.GetValue<double>();
        // Only trees see the interaction; noise stays near chance under either calibrator.
        var (trees, linear) = kind == CalibratorKind.BoostedTrees
            ? (guard, alternative["auroc"]!.GetValue<double>())
            : (alternative["auroc"]!.GetValue<double>(), guard);
        Assert.True(trees > 0.9, $"trees {trees}");
        Assert.InRange(linear, 0.3, 0.7);
        Assert.InRange(noise, 0.3, 0.7);
    }
}

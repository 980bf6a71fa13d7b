using System.Text.Json.Nodes;
using RetrievalGuard.Guard.Risk;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Guard.Evaluation;

/// <summary>
/// Fits every method's calibrator on labelled answers (`rguard guard fit`) and records how well each does under
/// 5-fold cross-validation on that same data, so the file says what to expect before any held-out evaluation; the
/// guard's features under the other calibrator are cross-validated too, so the choice stands on numbers.
/// </summary>
public static class GuardFitting
{
    public const double DefaultL2 = 1e-2;

    /// <param name="calibrator">How every method is fitted (the guard and its baselines alike, so evaluations compare
    /// signals, not calibrators).</param>
    /// <param name="l2">λ of the logistic calibrator.</param>
    public static GuardCalibration Fit(HeadMapModel model, IReadOnlyList<ScoringMethod> methods,
        IReadOnlyList<ScoredAnswer> data, string dataName, double threshold = 0.5, double l2 = DefaultL2,
        CalibratorKind calibrator = CalibratorKind.BoostedTrees)
    {
        var labels = data.Select(d => d.Answer.Hallucinated).ToArray();
        if (!labels.Contains(true) || !labels.Contains(false))
            throw new ArgumentException(
                $"{dataName}: the answers need both grounded and hallucinated ones to fit a calibration "
                + $"({labels.Count(l => l)} of {labels.Length} are hallucinated).");
        var fitted = new List<CalibratedMethod>();
        var crossValidated = new JsonObject();
        for (var m = 0; m < methods.Count; m++)
        {
            var rows = data.Select(d => (IReadOnlyList<double>)d.Features[m]).ToArray();
            var fitOne = Fitter(calibrator, methods[m].FeatureNames, l2);
            fitted.Add(new CalibratedMethod(methods[m].Name, fitOne(rows, labels)));
            crossValidated[methods[m].Name] = Figures(
                CrossValidation.Predictions(rows, labels, methods[m].FeatureNames, fitOne), labels);
        }
        // The guard under the other calibrator too, on the same folds: the numbers behind the choice.
        var other = calibrator == CalibratorKind.Logistic ? CalibratorKind.BoostedTrees : CalibratorKind.Logistic;
        var guard = methods.Select((method, index) => (method, index))
            .FirstOrDefault(p => p.method.Name == GuardCalibration.GuardMethod);
        JsonObject? otherFigures = null;
        if (guard.method is not null)
        {
            var guardRows = data.Select(d => (IReadOnlyList<double>)d.Features[guard.index]).ToArray();
            otherFigures = Figures(CrossValidation.Predictions(guardRows, labels, guard.method.FeatureNames,
                Fitter(other, guard.method.FeatureNames, l2)), labels);
            otherFigures["calibrator"] = Name(other);
        }
        var fit = new JsonObject
        {
            ["data"] = dataName,
            ["answers"] = data.Count,
            ["hallucinated"] = labels.Count(l => l),
            ["calibrator"] = Name(calibrator),
            ["l2"] = calibrator == CalibratorKind.Logistic ? l2 : new BoostedTreesCalibrator.Options().L2,
            ["cross_validated"] = crossValidated,
            ["guard_with_other_calibrator"] = otherFigures,
            ["methods"] = new JsonObject(methods.Select(m =>
                KeyValuePair.Create(m.Name, (JsonNode?)JsonValue.Create(m.Description)))),
        };
        return new GuardCalibration(model, fitted, threshold, fit);
    }

    public static string Name(CalibratorKind kind) =>
        kind == CalibratorKind.Logistic ? GuardCalibration.LogisticType : GuardCalibration.BoostedTreesType;

    private static Func<IReadOnlyList<IReadOnlyList<double>>, IReadOnlyList<bool>, IRiskModel> Fitter(
        CalibratorKind kind, IReadOnlyList<string> names, double l2) => kind switch
    {
        CalibratorKind.Logistic => (x, y) => LogisticCalibrator.Fit(x, y, names, l2),
        _ => (x, y) => BoostedTreesCalibrator.Fit(x, y, names),
    };

    private static JsonObject Figures(double[] predictions, IReadOnlyList<bool> labels) => new()
    {
        ["auroc"] = Math.Round(BinaryMetrics.Auroc(predictions, labels), 4),
        ["ece"] = Math.Round(BinaryMetrics.ExpectedCalibrationError(predictions, labels), 4),
    };
}

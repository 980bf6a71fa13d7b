using System.Text.Json.Nodes;
using RetrievalGuard.Guard.Risk;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Guard.Evaluation;

/// <summary>
/// Fits every method's calibrator on labelled answers (`rguard guard fit`) and records how well each does under
/// 5-fold cross-validation on that same data, so the file says what to expect before any held-out evaluation.
/// </summary>
public static class GuardFitting
{
    public const double DefaultL2 = 1e-2;

    public static GuardCalibration Fit(HeadMapModel model, IReadOnlyList<ScoringMethod> methods,
        IReadOnlyList<ScoredAnswer> data, string dataName, double threshold = 0.5, double l2 = DefaultL2)
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
            fitted.Add(new CalibratedMethod(methods[m].Name,
                LogisticCalibrator.Fit(rows, labels, methods[m].FeatureNames, l2)));
            var predictions = LogisticCalibrator.CrossValidatedPredictions(rows, labels, methods[m].FeatureNames, l2: l2);
            crossValidated[methods[m].Name] = new JsonObject
            {
                ["auroc"] = Math.Round(BinaryMetrics.Auroc(predictions, labels), 4),
                ["ece"] = Math.Round(BinaryMetrics.ExpectedCalibrationError(predictions, labels), 4),
            };
        }
        var fit = new JsonObject
        {
            ["data"] = dataName,
            ["answers"] = data.Count,
            ["hallucinated"] = labels.Count(l => l),
            ["l2"] = l2,
            ["cross_validated"] = crossValidated,
            ["methods"] = new JsonObject(methods.Select(m =>
                KeyValuePair.Create(m.Name, (JsonNode?)JsonValue.Create(m.Description)))),
        };
        return new GuardCalibration(model, fitted, threshold, fit);
    }
}

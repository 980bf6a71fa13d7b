using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using RetrievalGuard.Guard.Risk;

namespace RetrievalGuard.Guard.Evaluation;

/// <summary>One method's figures on one set of answers.</summary>
public sealed record MethodFigures(string Method, int Answers, int Hallucinated, double Auroc, double AurocLow,
    double AurocHigh, double Auprc, BestF1 BestF1, double Ece);

/// <summary>The figures of every method on one group of answers ("all", "answer_kind=swapped", …).</summary>
public sealed record GroupFigures(string Group, IReadOnlyList<MethodFigures> Methods);

/// <summary>
/// `rguard eval`: every method's calibrated probabilities on held-out answers, with AUROC (and a bootstrap interval),
/// AUPRC, the best F1 with its threshold and the expected calibration error, overall and per group. For the groups
/// that name a kind of hallucination (answer_kind, hallucination), a group is that kind against every grounded answer.
/// </summary>
public static class GuardEvaluation
{
    private static readonly string[] AgainstGrounded = ["answer_kind", "hallucination"];

    public static (IReadOnlyList<GroupFigures> Groups, IReadOnlyDictionary<string, double[]> Probabilities) Evaluate(
        GuardCalibration calibration, IReadOnlyList<ScoringMethod> methods, IReadOnlyList<ScoredAnswer> scored)
    {
        var probabilities = new Dictionary<string, double[]>();
        for (var m = 0; m < methods.Count; m++)
        {
            var model = calibration.Method(methods[m].Name);
            probabilities[methods[m].Name] = scored.Select(s => model.Predict(s.Features[m])).ToArray();
        }
        var groups = new List<GroupFigures>();
        void Add(string name, Func<ScoredAnswer, bool> member)
        {
            var index = Enumerable.Range(0, scored.Count).Where(i => member(scored[i])).ToArray();
            var labels = index.Select(i => scored[i].Answer.Hallucinated).ToArray();
            if (!labels.Contains(true) || !labels.Contains(false))
                return;
            groups.Add(new GroupFigures(name, methods.Select(method =>
                Figures(method.Name, index.Select(i => probabilities[method.Name][i]).ToArray(), labels)).ToArray()));
        }
        Add("all", _ => true);
        var keys = scored.SelectMany(s => s.Answer.Groups.Keys).Distinct().Order(StringComparer.Ordinal);
        foreach (var key in keys)
        {
            var values = scored.Select(s => s.Answer.Groups.GetValueOrDefault(key)).OfType<string>().Distinct()
                .Order(StringComparer.Ordinal);
            foreach (var value in values)
            {
                var against = AgainstGrounded.Contains(key);
                Add($"{key}={value}", s => s.Answer.Groups.GetValueOrDefault(key) == value
                    || (against && !s.Answer.Hallucinated));
            }
        }
        return (groups, probabilities);
    }

    public static MethodFigures Figures(string method, IReadOnlyList<double> probabilities, IReadOnlyList<bool> labels)
    {
        var (low, high) = BinaryMetrics.AurocInterval(probabilities, labels, resamples: 500);
        return new MethodFigures(method, labels.Count, labels.Count(l => l), BinaryMetrics.Auroc(probabilities, labels),
            low, high, BinaryMetrics.AveragePrecision(probabilities, labels),
            BinaryMetrics.BestF1(probabilities, labels), BinaryMetrics.ExpectedCalibrationError(probabilities, labels));
    }

    public static JsonObject ToJson(IReadOnlyList<GroupFigures> groups, JsonObject? about = null)
    {
        var json = about?.DeepClone() as JsonObject ?? new JsonObject();
        var list = new JsonObject();
        foreach (var group in groups)
        {
            list[group.Group] = new JsonObject(group.Methods.Select(m => KeyValuePair.Create(m.Method,
                (JsonNode?)new JsonObject
                {
                    ["answers"] = m.Answers,
                    ["hallucinated"] = m.Hallucinated,
                    ["auroc"] = Round(m.Auroc),
                    ["auroc_95"] = new JsonArray(Round(m.AurocLow), Round(m.AurocHigh)),
                    ["auprc"] = Round(m.Auprc),
                    ["best_f1"] = Round(m.BestF1.F1),
                    ["best_f1_threshold"] = Round(m.BestF1.Threshold),
                    ["ece"] = Round(m.Ece),
                })));
        }
        json["groups"] = list;
        return json;
    }

    /// <summary>One markdown table per group: methods as rows, best AUROC in bold.</summary>
    public static string Markdown(IReadOnlyList<GroupFigures> groups)
    {
        var text = new StringBuilder();
        foreach (var group in groups)
        {
            var first = group.Methods[0];
            text.AppendLine(CultureInfo.InvariantCulture,
                $"**{group.Group}** ({first.Answers} answers, {first.Hallucinated} hallucinated)").AppendLine();
            text.AppendLine("| method | AUROC (95% CI) | AUPRC | best F1 @ threshold | ECE |");
            text.AppendLine("| --- | --- | --- | --- | --- |");
            var best = group.Methods.Max(m => m.Auroc);
            foreach (var m in group.Methods)
            {
                var auroc = string.Create(CultureInfo.InvariantCulture,
                    $"{m.Auroc:F3} ({m.AurocLow:F3}–{m.AurocHigh:F3})");
                text.AppendLine(CultureInfo.InvariantCulture,
                    $"| {m.Method} | {(m.Auroc == best ? $"**{auroc}**" : auroc)} | {m.Auprc:F3} | "
                    + $"{m.BestF1.F1:F3} @ {m.BestF1.Threshold:F2} | {m.Ece:F3} |");
            }
            text.AppendLine();
        }
        return text.ToString();
    }

    private static double Round(double value) => Math.Round(value, 4);
}

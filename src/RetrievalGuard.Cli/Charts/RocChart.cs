using RetrievalGuard.Guard.Evaluation;

namespace RetrievalGuard.Cli.Charts;

/// <summary>ROC curves of every method on one evaluation set, with each curve's AUROC in the legend.</summary>
internal static class RocChart
{
    public static void Write(IReadOnlyDictionary<string, double[]> probabilities, IReadOnlyList<bool> labels,
        string png, string title)
    {
        var plot = new ScottPlot.Plot();
        foreach (var (method, scores) in probabilities.OrderByDescending(p => BinaryMetrics.Auroc(p.Value, labels)))
        {
            var curve = BinaryMetrics.RocCurve(scores, labels);
            var line = plot.Add.Scatter(curve.Select(p => p.FalsePositiveRate).ToArray(),
                curve.Select(p => p.TruePositiveRate).ToArray());
            line.MarkerSize = 0;
            line.LineWidth = method == Guard.Risk.GuardCalibration.GuardMethod ? 3 : 1.5f;
            line.LegendText = $"{method} ({BinaryMetrics.Auroc(scores, labels):F3})";
        }
        var chance = plot.Add.Line(0, 0, 1, 1);
        chance.LinePattern = ScottPlot.LinePattern.Dashed;
        chance.Color = ScottPlot.Colors.Gray;
        plot.Title(title);
        plot.XLabel("false positive rate (grounded answers flagged)");
        plot.YLabel("true positive rate (hallucinations caught)");
        plot.Axes.SetLimits(0, 1, 0, 1);
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
        plot.SavePng(png, 900, 700);
    }
}

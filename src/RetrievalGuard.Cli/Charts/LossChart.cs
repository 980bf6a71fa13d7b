using System.Globalization;

namespace RetrievalGuard.Cli.Charts;

/// <summary>The training loss curve (raw and smoothed) from a loss.csv written by organism training.</summary>
internal static class LossChart
{
    public static void Write(string lossCsv, string png, int smoothing = 50)
    {
        var rows = File.ReadLines(lossCsv).Skip(1).Select(l => l.Split(',')).Where(c => c.Length >= 2)
            .Select(c => (Step: double.Parse(c[0], CultureInfo.InvariantCulture),
                Loss: double.Parse(c[1], CultureInfo.InvariantCulture)))
            .ToArray();
        if (rows.Length == 0) throw new InvalidDataException($"{lossCsv} has no rows after its header.");
        double[] steps = rows.Select(r => r.Step).ToArray(), losses = rows.Select(r => r.Loss).ToArray();
        double[] smoothed = losses
            .Select((_, i) => losses.Skip(Math.Max(0, i - smoothing + 1)).Take(Math.Min(smoothing, i + 1)).Average())
            .ToArray();
        var plot = new ScottPlot.Plot();
        var raw = plot.Add.Scatter(steps, losses);
        raw.LineWidth = 1;
        raw.MarkerSize = 0;
        raw.Color = ScottPlot.Colors.LightGray;
        raw.LegendText = "loss per step (masked)";
        var mean = plot.Add.Scatter(steps, smoothed);
        mean.LineWidth = 2;
        mean.MarkerSize = 0;
        mean.LegendText = $"mean of {smoothing} steps";
        plot.Title("Organism training loss");
        plot.XLabel("step");
        plot.YLabel("cross-entropy (nats)");
        plot.ShowLegend();
        plot.SavePng(png, 900, 500);
    }
}

using RetrievalGuard.Guard;
using RetrievalGuard.Guard.Prompting;

namespace RetrievalGuard.Cli.Charts;

/// <summary>
/// Per-token grounding of an answer: answer tokens (columns) × passages (rows), the retrieval heads' share.
/// </summary>
internal static class GroundingChart
{
    public static void Write(GuardReport report, IReadOnlyList<Passage> passages, string png)
    {
        var tokens = report.Tokens;
        if (tokens.Count == 0)
            throw new InvalidOperationException("The answer has no tokens to chart.");
        var values = new double[passages.Count, tokens.Count];
        for (var p = 0; p < passages.Count; p++)
            for (var t = 0; t < tokens.Count; t++)
                values[p, t] = tokens[t].PassageShares[p];
        var plot = new ScottPlot.Plot();
        var map = plot.Add.Heatmap(values);
        map.Colormap = new ScottPlot.Colormaps.Viridis();
        var bar = plot.Add.ColorBar(map);
        bar.Label = "attention share";
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (var t = 0; t < tokens.Count; t++)
            ticks.AddMajor(t, tokens[t].Text.Trim());
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.Bottom.TickLabelStyle.Rotation = 60;
        plot.Axes.Bottom.TickLabelStyle.Alignment = ScottPlot.Alignment.MiddleLeft;
        var rows = new ScottPlot.TickGenerators.NumericManual();
        for (var p = 0; p < passages.Count; p++)
            rows.AddMajor(p, $"passage {passages[p].Id}");
        plot.Axes.Left.TickGenerator = rows;
        plot.Title($"Grounding per answer token (risk {report.Risk:F2})");
        plot.SavePng(png, Math.Max(600, 40 * tokens.Count + 200), 160 + (60 * passages.Count));
    }
}

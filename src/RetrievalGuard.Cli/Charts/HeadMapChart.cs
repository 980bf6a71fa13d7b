using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Cli.Charts;

/// <summary>A layer × head heat map of a head map's scores, with a colour bar.</summary>
internal static class HeadMapChart
{
    public static void Write(HeadMap map, string png)
    {
        int layers = map.Scores.Length, units = map.Scores[0].Length;
        var data = new double[layers, units];
        for (int l = 0; l < layers; l++)
            for (int h = 0; h < units; h++)
                data[layers - 1 - l, h] = map.Scores[l][h]; // the heat map draws row 0 at the top; put layer 0 at y = 0
        var plot = new ScottPlot.Plot();
        var heatmap = plot.Add.Heatmap(data);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        var bar = plot.Add.ColorBar(heatmap);
        bar.Label = map.Method.Kind;
        string unit = map.Granularity == HeadGranularity.QueryHead ? "head" : "KV head";
        plot.Title($"{map.Model.Name ?? map.Model.Architecture}: "
            + $"{map.RetrievalHeads.Count} of {map.TotalUnits} {unit}s "
            + $"≥ {map.Method.Threshold:0.###}");
        plot.XLabel(unit);
        plot.YLabel("layer");
        // Cells are centred on integers: show exactly the layers and heads, nothing around them.
        plot.Axes.SetLimits(-0.5, units - 0.5, -0.5, layers - 0.5);
        plot.SavePng(png, Math.Max(640, 160 + units * 24), Math.Max(420, 100 + layers * 20));
    }
}

using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using RetrievalGuard.Data;
using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Heads.Caching;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Cli.Commands;

/// <summary>
/// <c>rguard niah</c>: NIAH and passage-QA accuracy under one KV cache policy, with the bytes its caches held;
/// <c>rguard niah curve</c>: accuracy against bytes for many such runs.
/// </summary>
internal static class NiahCommand
{
    private static readonly int[] DefaultLengths = [512, 1024, 2048];

    public static Command Create()
    {
        var model = CommonOptions.ModelAndDevice();
        var cache = new CacheOptions(required: true, "--seed");
        var mapOption = new Option<string?>("--map")
        {
            Description = "Head map ranking the KV heads (default: the one in headmaps/ whose fingerprint matches)",
        };
        var itemsSeed = new Option<int>("--items-seed")
        {
            Description = "Seed of the needles and passages (keep it fixed to compare policies)",
            DefaultValueFactory = _ => 1,
        };
        var haystack = new Option<string?>("--haystack")
        {
            Description = "Folder of text the model never trained on (default: the held-out novel of samples/corpus)",
        };
        var lengths = Lengths();
        var depths = CacheOptions.Count("--depths", 1, 5, "Needle depths from 0% to 100%");
        var needles = CacheOptions.Count("--needles", 1, 2, "Needles per length × depth cell");
        var qa = CacheOptions.Count("--qa", 0, 0,
            "Passage-QA items (answerable and conflict in turn, over the lengths)");
        var output = CommonOptions.OutputFile("--out", "Write the results (every answer included) as JSON",
            required: false);
        var png = CommonOptions.OutputFile("--png", "Write a length × depth NIAH accuracy heat map", required: false);
        var command = new Command("niah",
            "NIAH and passage-QA accuracy under a KV cache policy, with the KV bytes held.")
        {
            mapOption, itemsSeed, haystack, lengths, depths, needles, qa, output, png, Curve(),
        };
        foreach (var option in model.All)
            command.Options.Add(option);
        cache.AddTo(command);
        command.SetAction((parse, cancellation) => CliErrors.Guard(() =>
        {
            using var lm = model.Load(parse);
            var policy = cache.Policy(parse, () => FindMap(lm, parse.GetValue(mapOption)),
                () => HeadMapCatalog.NotFoundMessage(lm.Directory));
            var settings = new CacheEvaluationSettings
            {
                Lengths = CheckFits(parse.GetValue(lengths) ?? DefaultLengths, lm.Config.MaxPositionEmbeddings),
                Depths = parse.GetValue(depths), NeedlesPerCell = parse.GetValue(needles), QaItems = parse.GetValue(qa),
                Seed = parse.GetValue(itemsSeed),
            };
            using var heldOut = parse.GetValue(haystack) is null
                ? new HeldOutFolder(CommonOptions.RepositoryPath("samples/corpus"))
                : null;
            string folder = parse.GetValue(haystack) ?? heldOut!.Folder;
            int total = settings.Lengths.Count * settings.Depths * settings.NeedlesPerCell + settings.QaItems;
            Console.Error.WriteLine(
                $"{policy}: {total - settings.QaItems} needle prompts and {settings.QaItems} QA items");
            var report = new CacheEvaluation(lm, policy, settings).Run(folder, Progress(total), cancellation);
            Console.Write(Table(report));
            if (parse.GetValue(output) is { } file)
            {
                string text = parse.GetValue(haystack) is { } given
                    ? Path.GetFileName(Path.GetFullPath(given).TrimEnd('/'))
                    : CorpusSplit.EvaluationFileName;
                WriteJson(report, lm, text, file);
                Console.WriteLine($"wrote {file}");
            }
            if (parse.GetValue(png) is { } chart)
            {
                CacheCharts.Heatmap(report, chart);
                Console.WriteLine($"wrote {chart}");
            }
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>The report's JSON with what it ran on: model, haystack, device and date.</summary>
    private static void WriteJson(CacheEvaluationReport report, LanguageModel lm, string haystack, string file)
    {
        var json = report.ToJson();
        json["model"] = Path.GetFileName(Path.GetFullPath(lm.Directory).TrimEnd('/'));
        json["haystack"] = haystack;
        json["device"] = $"{lm.Device.type} {lm.DType}".ToLowerInvariant();
        json["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        File.WriteAllText(file, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    internal static HeadMap? FindMap(LanguageModel lm, string? path)
    {
        var map = path is null ? HeadMapCatalog.FindFor(lm) : HeadMap.Load(path);
        map?.EnsureFits(lm.Config, ModelFingerprint.Compute(lm.Directory), path ?? "the catalog's map");
        return map;
    }

    /// <summary>--lengths 512,1024 or --lengths 512 1024.</summary>
    private static Option<int[]?> Lengths() => new("--lengths")
    {
        Description = $"Context lengths in tokens (default {string.Join(',', DefaultLengths)})",
        AllowMultipleArgumentsPerToken = true,
        CustomParser = result =>
        {
            var values = new List<int>();
            foreach (var item in result.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.TrimEntries)))
            {
                if (!int.TryParse(item, NumberStyles.None, CultureInfo.InvariantCulture, out int length)
                    || length < ContextLength.Minimum)
                {
                    result.AddError($"--lengths: '{item}' is not a length of at least {ContextLength.Minimum} tokens.");
                    return null;
                }
                values.Add(length);
            }
            return values.ToArray();
        },
    };

    private static int[] CheckFits(int[] lengths, int modelPositions) =>
        lengths.FirstOrDefault(l => l > modelPositions) is int tooLong and > 0
            ? throw new ArgumentException(
                $"--lengths: {tooLong} tokens is more than the model's {modelPositions} positions.")
            : lengths;

    /// <summary>A line on stderr every tenth of the items.</summary>
    private static Action<CacheItemResult> Progress(int total)
    {
        var clock = Stopwatch.StartNew();
        int done = 0, correct = 0;
        return item =>
        {
            done++;
            correct += item.Correct ? 1 : 0;
            if (done % Math.Max(1, total / 10) == 0 || done == total)
                Console.Error.WriteLine($"{done}/{total} items, {correct} correct, {clock.Elapsed.TotalSeconds:F0} s");
        };
    }

    /// <summary>NIAH accuracy by length × depth with the bytes held per length; then passage QA per length.</summary>
    internal static string Table(CacheEvaluationReport report)
    {
        var text = new StringBuilder();
        var (niah, qa) = (report.Niah, report.Qa);
        text.AppendLine($"{report.Policy}: NIAH {Ratio(niah)}"
            + (qa.Total > 0 ? $", passage QA {Ratio(qa)}" : "") + $" ({report.Seconds:F0} s)");
        var depths = report.NiahDepths;
        var depthColumns = string.Join(" | ", depths.Select(d => $"{d:P0}"));
        text.AppendLine($"| length | {depthColumns} | NIAH | KV bytes | % of full |");
        text.AppendLine($"| --- |{string.Concat(depths.Select(_ => " --- |"))} --- | --- | --- |");
        foreach (int length in report.NiahLengths)
        {
            var row = report.ByLength(report.NiahItems, length);
            var cells = depths.Select(d => $"{report.NiahCell(length, d).Accuracy:P0}");
            text.AppendLine($"| {length} | {string.Join(" | ", cells)} | {row.Accuracy:P1} | {Bytes(row)} |");
        }
        if (qa.Total == 0)
            return text.ToString();
        text.AppendLine();
        text.AppendLine("| passage QA | answerable | conflict | all | KV bytes | % of full |");
        text.AppendLine("| --- | --- | --- | --- | --- | --- |");
        foreach (int length in report.QaItems.Select(i => i.Length).Distinct().Order())
        {
            var of = report.QaItems.Where(i => i.Length == length).ToList();
            string Kind(string task) => Ratio(CacheScore.Of(of.Where(i => i.Task == task).ToList()));
            text.AppendLine($"| {length} | {Kind("answerable")} | {Kind("conflict")} | {Ratio(CacheScore.Of(of))} | "
                + $"{Bytes(CacheScore.Of(of))} |");
        }
        return text.ToString();
    }

    private static string Ratio(CacheScore score) => $"{score.Accuracy:P1} ({score.Correct}/{score.Total})";

    private static string Bytes(CacheScore score) => $"{score.MeanKvBytes / 1048576.0:F2} MiB | {score.BytesShare:P1}";

    /// <summary><c>rguard niah curve</c>: accuracy against KV bytes from the JSON of several runs.</summary>
    private static Command Curve()
    {
        var results = new Option<string[]>("--results")
        {
            Description = "JSON files written by rguard niah --out", Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var png = CommonOptions.OutputFile("--png", "PNG to write: NIAH and passage-QA accuracy against KV bytes",
            required: false);
        var command = new Command("curve", "Plot accuracy against KV bytes (% of full), a line per policy, and print "
            + "the table.") { results, png };
        command.SetAction((parse, _) => CliErrors.Guard(() =>
        {
            var points = parse.GetValue(results)!.Select(CurvePoint.Load).ToList();
            Console.Write(CurvePoint.Table(points));
            if (CurvePoint.AgainstFull(points) is { Length: > 0 } paired)
                Console.Write(Environment.NewLine + paired);
            if (parse.GetValue(png) is { } chart)
            {
                CacheCharts.Curves(points, chart);
                Console.WriteLine($"wrote {chart}");
            }
            return Task.FromResult(0);
        }));
        return command;
    }
}

/// <summary>Accuracy and bytes of one task at one length in a run.</summary>
internal sealed record CurveFigure(string Task, int Length, int Items, double Accuracy, double BytesShare)
{
    public static string PanelName(string task, int length) =>
        $"{(task == "niah" ? "NIAH" : "passage QA")} at {length} tokens";
}

/// <summary>One run's figures by task and length, as <c>rguard niah --out</c> wrote them.</summary>
/// <param name="Answers">Each item's task (niah, or qa for answerable and conflict) and whether it was right, by id.
/// </param>
internal sealed record CurvePoint(string Policy, int? FullKvHeads, IReadOnlyList<CurveFigure> Figures,
    IReadOnlyDictionary<string, (string Task, bool Correct)> Answers)
{
    private static readonly string[] Tasks = ["niah", "qa"];

    public static CurvePoint Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"--results: '{path}' does not exist.", path);
        try
        {
            var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
            var figures = Tasks.SelectMany(task => json[task]!["by_length"]!.AsObject().Select(length =>
                new CurveFigure(task, int.Parse(length.Key, CultureInfo.InvariantCulture),
                    length.Value!["items"]!.GetValue<int>(), length.Value["accuracy"]!.GetValue<double>(),
                    length.Value["kv_bytes_share"]!.GetValue<double>())));
            var answers = (json["items"]?.AsArray() ?? []).Select(item => item!.AsObject()).ToDictionary(
                item => item["id"]!.GetValue<string>(),
                item => (item["task"]!.GetValue<string>() == "niah" ? "niah" : "qa",
                    item["correct"]!.GetValue<bool>()));
            return new CurvePoint(json["policy"]!.GetValue<string>(), json["full_kv_heads"]?.GetValue<int>(),
                figures.ToList(), answers);
        }
        catch (Exception e) when (e is JsonException or NullReferenceException or InvalidOperationException
            or FormatException or ArgumentException)
        {
            throw new InvalidDataException($"--results: '{path}' is not a file written by rguard niah --out.", e);
        }
    }

    /// <summary>The (task, length) panels the runs cover, NIAH first.</summary>
    public static IReadOnlyList<(string Task, int Length)> Panels(IEnumerable<CurvePoint> points) => points
        .SelectMany(p => p.Figures).Select(f => (f.Task, f.Length)).Distinct()
        .OrderBy(p => Array.IndexOf(Tasks, p.Task)).ThenBy(p => p.Length).ToList();

    public CurveFigure? Figure(string task, int length) =>
        Figures.FirstOrDefault(f => f.Task == task && f.Length == length);

    /// <summary>
    /// Each run against the full cache's run on the same items (paired): the accuracy difference per task in points,
    /// a 95% interval (normal, from the per-item differences), and the items gained and lost. Empty without a full run.
    /// </summary>
    public static string AgainstFull(IReadOnlyList<CurvePoint> points)
    {
        if (points.FirstOrDefault(p => p.Policy == "full") is not { } full)
            return "";
        var text = new StringBuilder();
        text.AppendLine("| policy | full KV heads | NIAH − full (95% interval; gained/lost) | QA − full (same) |");
        text.AppendLine("| --- | --- | --- | --- |");
        foreach (var point in points.Where(p => p != full).OrderBy(p => p.Policy, StringComparer.Ordinal)
            .ThenBy(p => p.FullKvHeads ?? 0))
        {
            var cells = Tasks.Select(task => Paired(point, full, task));
            var kept = point.FullKvHeads?.ToString(CultureInfo.InvariantCulture) ?? "–";
            text.AppendLine($"| {point.Policy} | {kept} | {string.Join(" | ", cells)} |");
        }
        return text.ToString();
    }

    /// <summary>"−2.5 (−6.0 to +1.0; +0/−2)" for one task, or "–" when the runs share no item of it.</summary>
    internal static string Paired(CurvePoint point, CurvePoint full, string task)
    {
        var differences = point.Answers
            .Where(a => a.Value.Task == task && full.Answers.TryGetValue(a.Key, out var f) && f.Task == task)
            .Select(a => (a.Value.Correct ? 1 : 0) - (full.Answers[a.Key].Correct ? 1 : 0))
            .ToArray();
        if (differences.Length == 0)
            return "–";
        double n = differences.Length, mean = differences.Average();
        double variance = n > 1 ? differences.Sum(d => (d - mean) * (d - mean)) / (n - 1) : 0;
        double half = 1.96 * Math.Sqrt(variance / n);
        return string.Create(CultureInfo.InvariantCulture,
            $"{100 * mean:+0.0;−0.0;0.0} ({100 * (mean - half):+0.0;−0.0;0.0} to {100 * (mean + half):+0.0;−0.0;0.0}; "
            + $"+{differences.Count(d => d > 0)}/−{differences.Count(d => d < 0)})");
    }

    /// <summary>A row per run: accuracy @ bytes (% of full) per task and length.</summary>
    public static string Table(IReadOnlyList<CurvePoint> points)
    {
        var panels = Panels(points);
        var text = new StringBuilder();
        var columns = string.Join(" | ", panels.Select(p => CurveFigure.PanelName(p.Task, p.Length)));
        text.AppendLine($"| policy | full KV heads | {columns} |");
        text.AppendLine($"| --- | --- |{string.Concat(panels.Select(_ => " --- |"))}");
        foreach (var point in points.OrderBy(p => p.Policy, StringComparer.Ordinal).ThenBy(p => p.FullKvHeads ?? 0))
        {
            var cells = panels.Select(p => point.Figure(p.Task, p.Length) is { } f
                ? $"{f.Accuracy:P1} @ {f.BytesShare:P1}"
                : "–");
            var kept = point.FullKvHeads?.ToString(CultureInfo.InvariantCulture) ?? "–";
            text.AppendLine($"| {point.Policy} | {kept} | {string.Join(" | ", cells)} |");
        }
        return text.ToString();
    }
}

/// <summary>The NIAH heat map of one run and the accuracy-against-bytes curves of many.</summary>
internal static class CacheCharts
{
    public static void Heatmap(CacheEvaluationReport report, string png)
    {
        var (lengths, depths) = (report.NiahLengths, report.NiahDepths);
        var data = new double[lengths.Count, depths.Count];
        var plot = new ScottPlot.Plot();
        for (int l = 0; l < lengths.Count; l++)
            for (int d = 0; d < depths.Count; d++)
            {
                double accuracy = report.NiahCell(lengths[l], depths[d]).Accuracy;
                data[lengths.Count - 1 - l, d] = accuracy; // row 0 draws at the top: put the shortest length at y = 0
                var label = plot.Add.Text($"{accuracy:P0}", d, l);
                label.LabelAlignment = ScottPlot.Alignment.MiddleCenter;
                label.LabelFontSize = 16;
                label.LabelFontColor = accuracy > 0.6 ? ScottPlot.Colors.Black : ScottPlot.Colors.White;
            }
        var heatmap = plot.Add.Heatmap(data);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.ManualRange = new ScottPlot.Range(0, 1);
        plot.MoveToBack(heatmap);
        plot.Add.ColorBar(heatmap).Label = "NIAH accuracy";
        plot.Axes.Bottom.TickGenerator = Ticks(depths.Select(d => $"{d:P0}").ToList());
        plot.Axes.Left.TickGenerator = Ticks(lengths
            .Select(l => $"{l}\nKV {report.ByLength(report.NiahItems, l).BytesShare:P0}").ToList());
        plot.Axes.SetLimits(-0.5, depths.Count - 0.5, -0.5, lengths.Count - 0.5);
        plot.Title($"{report.Policy}: NIAH {report.Niah.Accuracy:P1}");
        plot.XLabel("needle depth");
        plot.YLabel("context tokens (KV bytes held)");
        plot.SavePng(png, Math.Max(760, 200 + depths.Count * 110), Math.Max(420, 140 + lengths.Count * 90));
    }

    /// <summary>A panel per task and length: a line per policy through its budgets, x = KV bytes % of full.</summary>
    public static void Curves(IReadOnlyList<CurvePoint> points, string png)
    {
        var panels = CurvePoint.Panels(points);
        if (panels.Count == 0)
            throw new InvalidDataException("--results: the files hold no NIAH or QA figures to plot.");
        int columns = panels.Select(p => p.Length).Distinct().Count(), rows = (panels.Count + columns - 1) / columns;
        var multiplot = new ScottPlot.Multiplot { Layout = new ScottPlot.MultiplotLayouts.Grid(rows, columns) };
        for (int i = 0; i < panels.Count; i++)
        {
            var plot = new ScottPlot.Plot();
            Panel(plot, points, panels[i].Task, panels[i].Length);
            if (i == 0)
                ScottPlot.IMultiplotExtensions.Reset(multiplot, plot); // a new multiplot holds one empty plot
            else
                ScottPlot.IMultiplotExtensions.AddPlot(multiplot, plot);
        }
        ScottPlot.IMultiplotExtensions.SavePng(multiplot, png, 620 * columns, 480 * rows);
    }

    private static void Panel(ScottPlot.Plot plot, IReadOnlyList<CurvePoint> points, string task, int length)
    {
        foreach (var policy in points.GroupBy(p => p.Policy).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var line = policy.Select(p => p.Figure(task, length)).OfType<CurveFigure>().OrderBy(f => f.BytesShare)
                .ToArray();
            if (line.Length == 0)
                continue;
            var scatter = plot.Add.Scatter(line.Select(f => f.BytesShare * 100).ToArray(),
                line.Select(f => f.Accuracy * 100).ToArray());
            scatter.LegendText = policy.Key;
            scatter.MarkerSize = 8;
            scatter.LineWidth = 2;
        }
        plot.Title(CurveFigure.PanelName(task, length));
        plot.XLabel("KV bytes held (% of the full cache)");
        plot.YLabel("accuracy (%)");
        plot.Axes.SetLimits(0, 105, 0, 102);
        plot.ShowLegend(ScottPlot.Alignment.LowerRight);
    }

    private static ScottPlot.TickGenerators.NumericManual Ticks(IReadOnlyList<string> labels)
    {
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        for (int i = 0; i < labels.Count; i++)
            ticks.AddMajor(i, labels[i]);
        return ticks;
    }
}

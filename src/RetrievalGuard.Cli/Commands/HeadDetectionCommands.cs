using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using RetrievalGuard.Engine;
using RetrievalGuard.Heads.Ablation;
using RetrievalGuard.Heads.Detection;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Cli.Commands;

/// <summary>
/// <c>rguard heads detect</c> and <c>rguard heads ablate</c>: finding retrieval heads and testing that they matter.
/// </summary>
internal static class HeadDetectionCommands
{
    public static Command Detect()
    {
        var model = CommonOptions.ModelAndDevice();
        var haystack = new Option<string>("--haystack")
        {
            Description = "Folder of plain text for haystacks (needles are invented, unrelated to it)",
            DefaultValueFactory = _ => CommonOptions.RepositoryPath("samples/corpus"),
        };
        var lengths = new Option<int[]>("--lengths")
        {
            Description = "Context lengths in tokens (default: 4 spread up to the model's context)",
            AllowMultipleArgumentsPerToken = true,
        };
        var depths = new Option<int>("--depths")
        {
            Description = "Needle depths from 0% to 100%",
            DefaultValueFactory = _ => 10,
        };
        var needles = new Option<int>("--needles")
        {
            Description = "Needles per length × depth cell",
            DefaultValueFactory = _ => 2,
        };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1 };
        var threshold = new Option<double>("--threshold")
        {
            DefaultValueFactory = _ => RetrievalHeadDetector.PaperThreshold,
        };
        var output = CommonOptions.OutputFile("--out",
            "Head map JSON to write (copy it into headmaps/ to have it found by fingerprint)");
        var command = new Command("detect",
            "Detect retrieval heads with needle-in-a-haystack tests (Wu et al., 2025) and write a head map.")
            { haystack, lengths, depths, needles, seed, threshold, output };
        foreach (var option in model.All)
            command.Options.Add(option);
        command.SetAction((parse, cancellation) => CliErrors.Guard(() =>
        {
            string dir = parse.GetValue(model.Folder)!;
            using var lm = model.Load(parse);
            int context = lm.Config.MaxPositionEmbeddings;
            int[] grid = parse.GetValue(lengths) is { Length: > 0 } given
                ? given
                : Enumerable.Range(1, 4).Select(i => Math.Max(128, context * i / 4)).ToArray();
            var tests = NeedleTests.Grid(parse.GetValue(haystack)!, grid, parse.GetValue(depths),
                parse.GetValue(needles), parse.GetValue(seed), lm.Tokenizer.CountTokens);
            var method = new HeadMapMethod("copy-paste-retrieval-score", parse.GetValue(threshold), grid,
                Enumerable.Range(0, parse.GetValue(depths))
                    .Select(d => parse.GetValue(depths) == 1 ? 0.5 : (double)d / (parse.GetValue(depths) - 1))
                    .ToArray(),
                parse.GetValue(needles),
                Notes: $"haystack: {Path.GetFileName(Path.GetFullPath(parse.GetValue(haystack)!))}; "
                    + $"counted when ROUGE-1 recall of the needle > 0.5; seed {parse.GetValue(seed)}");
            var map = RunWithProgress(tests.Count, report => new RetrievalHeadDetector(lm).Detect(tests, method,
                ModelFingerprint.Compute(dir), Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/')), report,
                cancellation));
            map.Save(parse.GetValue(output)!);
            Console.WriteLine($"{map.Method.TestsCounted}/{map.Method.TestsTotal} tests counted; "
                + $"{map.RetrievalHeads.Count} of {map.TotalUnits} heads score ≥ {map.Method.Threshold}: "
                + string.Join(", ", map.RetrievalHeads.Select(h => $"L{h.Layer}H{h.Head} {h.Score:F3}")));
            Console.WriteLine($"wrote {parse.GetValue(output)}");
            return Task.FromResult(0);
        }));
        return command;
    }

    public static Command Ablate()
    {
        var model = CommonOptions.ModelAndDevice();
        var mapOption = new Option<string?>("--map")
        {
            Description = "Head map (default: the one in headmaps/ whose fingerprint matches the model)",
        };
        var haystack = new Option<string>("--haystack")
        {
            DefaultValueFactory = _ => CommonOptions.RepositoryPath("samples/corpus"),
        };
        var top = new Option<int[]>("--top")
        {
            Description = "K values",
            DefaultValueFactory = _ => [1, 2, 4, 8],
            AllowMultipleArgumentsPerToken = true,
        };
        var trials = new Option<int>("--trials")
        {
            Description = "Random draws of K non-retrieval heads",
            DefaultValueFactory = _ => 3,
        };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 5 };
        var length = new Option<int>("--length")
        {
            Description = "Context length of the needle prompts",
            DefaultValueFactory = _ => 1024,
        };
        var prompts = new Option<int>("--prompts")
        {
            Description = "Needle prompts (spread over 10 depths)",
            DefaultValueFactory = _ => 30,
        };
        var output = CommonOptions.OutputFile("--out", "Write the table as JSON", required: false);
        var command = new Command("ablate",
            "Zero the top-K retrieval heads vs K random non-retrieval heads and compare NIAH accuracy.")
            { mapOption, haystack, top, trials, seed, length, prompts, output };
        foreach (var option in model.All)
            command.Options.Add(option);
        command.SetAction((parse, _) => CliErrors.Guard(() =>
        {
            string dir = parse.GetValue(model.Folder)!;
            using var lm = model.Load(parse);
            var map = parse.GetValue(mapOption) is { } path
                ? HeadMap.Load(path)
                : HeadMapCatalog.FindFor(lm) ?? throw new FileNotFoundException(HeadMapCatalog.NotFoundMessage(dir));
            map.EnsureFits(lm.Config, ModelFingerprint.Compute(dir), parse.GetValue(mapOption) ?? "the catalog's map");
            int perDepth = Math.Max(1, parse.GetValue(prompts) / 10);
            var tests = NeedleTests.Grid(parse.GetValue(haystack)!, [parse.GetValue(length)], 10, perDepth,
                parse.GetValue(seed) + 1000, lm.Tokenizer.CountTokens);
            var ks = parse.GetValue(top)!;
            Console.WriteLine($"{tests.Count} needle prompts at {parse.GetValue(length)} tokens, every head on, "
                + $"then top-K and {parse.GetValue(trials)} random draws for K = {string.Join(", ", ks)}; "
                + "a line per condition as it finishes");
            var rows = HeadAblation.Run(lm, map, tests, ks, parse.GetValue(trials), parse.GetValue(seed),
                Console.WriteLine);
            if (parse.GetValue(output) is { } file)
            {
                var json = new JsonObject
                {
                    ["model"] = Path.GetFileName(Path.GetFullPath(dir).TrimEnd('/')),
                    ["prompts"] = tests.Count,
                    ["context_tokens"] = parse.GetValue(length),
                    ["random_draws"] = parse.GetValue(trials),
                    ["seed"] = parse.GetValue(seed),
                    ["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd"),
                    ["rows"] = JsonSerializer.SerializeToNode(rows,
                        new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }),
                };
                File.WriteAllText(file, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            Console.WriteLine();
            Console.WriteLine(
                "| K | top retrieval heads: NIAH | hallucinated | random non-retrieval: NIAH | hallucinated |");
            Console.WriteLine("| --- | --- | --- | --- | --- |");
            Console.WriteLine($"| 0 | {rows[0].NiahAccuracy:P1} | {rows[0].HallucinationRate:P1} | | |");
            foreach (var k in parse.GetValue(top)!)
            {
                var t = rows.First(r => r.K == k && r.Condition.StartsWith("top", StringComparison.Ordinal));
                var r = rows.First(r => r.K == k && r.Condition.StartsWith("random", StringComparison.Ordinal));
                Console.WriteLine($"| {k} | {t.NiahAccuracy:P1} | {t.HallucinationRate:P1} "
                    + $"| {r.NiahAccuracy:P1} | {r.HallucinationRate:P1} |");
            }
            return Task.FromResult(0);
        }));
        return command;
    }

    /// <summary>A progress line every 10% when output is redirected, a Spectre progress bar otherwise.</summary>
    private static HeadMap RunWithProgress(int total, Func<Action<DetectionProgress>, HeadMap> run)
    {
        if (Console.IsOutputRedirected)
            return run(p =>
            {
                if (p.Done % Math.Max(1, total / 10) == 0 || p.Done == total)
                    Console.WriteLine($"{p.Done}/{p.Total} tests, {p.Counted} counted");
            });
        HeadMap? result = null;
        Spectre.Console.AnsiConsole.Progress().Start(ctx =>
        {
            var task = ctx.AddTask("needle tests", maxValue: total);
            result = run(p => { task.Value = p.Done; task.Description = $"{p.Counted} counted"; });
        });
        return result!;
    }
}

using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using RetrievalGuard.Guard;
using RetrievalGuard.Guard.Evaluation;
using RetrievalGuard.Guard.Prompting;
using RetrievalGuard.Guard.Risk;
using RetrievalGuard.Heads.Maps;
using Spectre.Console;

namespace RetrievalGuard.Cli.Commands;

/// <summary>
/// The guard on the command line: <c>ask</c> (the model answers, guarded), <c>score</c> (anyone's answers, read
/// teacher-forced), <c>eval</c> (the guard against every baseline on labelled answers) and <c>guard fit</c>.
/// </summary>
internal static class GuardCommands
{
    private static JsonSerializerOptions Json => JsonlScoring.ReportJson;

    private sealed record GuardFiles(Option<string?> Map, Option<string?> Calibration)
    {
        public static GuardFiles Create() => new(
            new Option<string?>("--map")
            {
                Description = "Head map (JSON); found by the model's fingerprint when omitted",
            },
            new Option<string?>("--calibration")
            {
                Description = "Calibration file; found by the model's fingerprint beside the head maps when omitted",
            });

        public HallucinationGuard Load(Engine.LanguageModel model, ParseResult parse) =>
            HallucinationGuard.ForModel(model, parse.GetValue(Map), parse.GetValue(Calibration));
    }

    public static Command Ask()
    {
        var model = CommonOptions.ModelAndDevice();
        var files = GuardFiles.Create();
        var passages = new Option<string>("--passages")
        {
            Description = "A folder of *.txt passages, a .json array, a .jsonl file, "
                + "or a text file of blank-line-separated passages",
            Required = true,
        };
        var question = new Option<string>("--question", "-q") { Description = "The question", Required = true };
        var maxTokens = new Option<int>("--max-tokens", "-n")
        {
            Description = "Most answer tokens",
            DefaultValueFactory = _ => 128,
        };
        var json = new Option<bool>("--json")
        {
            Description = "Print the report as JSON instead of the annotated answer",
        };
        var png = CommonOptions.OutputFile("--png", "Write per-token grounding (answer tokens × passages) as a PNG",
            required: false);
        var cache = new CacheOptions(required: false);
        var command = new Command("ask", "Answer a question from passages, guarded: risk, flagged spans and citations.")
            { passages, question, maxTokens, json, png, files.Map, files.Calibration };
        foreach (var option in model.All)
            command.Options.Add(option);
        cache.AddTo(command);
        command.SetAction((parse, cancellation) => CliErrors.Guard(async () =>
        {
            var given = PassageFiles.Read(parse.GetValue(passages)!);
            var pngPath = parse.GetValue(png);
            using var lm = model.Load(parse);
            var guard = files.Load(lm, parse);
            // The compressed cache keeps the KV heads of the guard's own map whole.
            var policy = cache.Policy(parse, () => guard.Map, () => "");
            GuardReport? report = null;
            var quiet = parse.GetValue(json);
            await foreach (var token in guard.AskAsync(given, parse.GetValue(question)!, parse.GetValue(maxTokens),
                cache: policy, cancellationToken: cancellation))
            {
                if (!quiet)
                    Console.Write(token.Text);
                report = token.Report ?? report;
            }
            if (!quiet)
                Console.WriteLine();
            if (quiet)
                Console.WriteLine(JsonSerializer.Serialize(report, Json));
            else
                Show(report!, given, guard.Calibration is not null);
            if (pngPath is not null)
            {
                Charts.GroundingChart.Write(report!, given, pngPath);
                Console.Error.WriteLine($"wrote {pngPath}");
            }
            return 0;
        }));
        return command;
    }

    public static Command Score()
    {
        var model = CommonOptions.ModelAndDevice();
        var files = GuardFiles.Create();
        var input = new Option<string>("--input", "-i")
        {
            Description = "JSONL: one {\"passages\": [...], \"question\": ..., \"answer\": ...} per line",
            Required = true,
        };
        var output = CommonOptions.OutputFile("--out", "JSONL to write: each record with its risk");
        var command = new Command("score",
            "Score given answers against their passages (teacher-forced): risk, spans, attribution.")
            { input, output, files.Map, files.Calibration };
        foreach (var option in model.All)
            command.Options.Add(option);
        command.SetAction((parse, cancellation) => CliErrors.Guard(() =>
        {
            var inputPath = parse.GetValue(input)!;
            if (!File.Exists(inputPath))
                throw new FileNotFoundException($"--input: '{inputPath}' does not exist.", inputPath);
            var outputPath = parse.GetValue(output)!;
            var lines = File.ReadAllLines(inputPath);
            using var lm = model.Load(parse);
            var guard = files.Load(lm, parse);
            using var writer = new StreamWriter(outputPath, false, new System.Text.UTF8Encoding(false));
            var timer = Stopwatch.StartNew();
            int scored = 0, failed = 0;
            Progress(lines.Length, "scoring", tick =>
                (scored, failed) = JsonlScoring.Score(guard, lines, writer, tick, cancellation));
            Console.Error.WriteLine($"{scored} scored, {failed} malformed → {outputPath} "
                + $"({scored / Math.Max(timer.Elapsed.TotalSeconds, 1e-9):F1} items/s, {lm.Device.type})");
            return Task.FromResult(failed > 0 && scored == 0 ? 1 : 0);
        }));
        return command;
    }

    public static Command Eval()
    {
        var model = CommonOptions.ModelAndDevice();
        var files = GuardFiles.Create();
        var data = new Option<string>("--data")
        {
            Description =
                "Labelled answers: make-eval JSONL, or a RAGTruth folder (response.jsonl + source_info.jsonl)",
            Required = true,
        };
        var output = CommonOptions.OutputFolder("--out", "Folder for eval.json, eval.md and roc.png");
        var limit = new Option<int?>("--limit") { Description = "Use only the first N answers" };
        var features = FeaturesOption();
        var command = new Command("eval",
            "AUROC, AUPRC, best F1 and calibration error of the guard and every baseline, overall and per kind.")
            { data, output, limit, features, files.Map, files.Calibration };
        foreach (var option in model.All)
            command.Options.Add(option);
        command.SetAction((parse, cancellation) => CliErrors.Guard(() =>
        {
            var folder = parse.GetValue(output);
            if (folder is not null)
                Directory.CreateDirectory(folder);
            var dataPath = parse.GetValue(data)!;
            var (answers, bad) = Read(dataPath, parse.GetValue(limit));
            using var lm = model.Load(parse);
            var guard = files.Load(lm, parse);
            var calibration = guard.Calibration ?? throw new InvalidOperationException(
                "No calibration for this model: fit one with `rguard guard fit --model DIR --data FILE --out FILE`.");
            var featuresPath = parse.GetValue(features);
            var (methods, scored) = Collect(lm, guard, answers, cancellation);
            WriteFeatures(featuresPath, methods, scored);
            var (groups, probabilities) = GuardEvaluation.Evaluate(calibration, methods, scored);
            Console.WriteLine(GuardEvaluation.Markdown(groups));
            if (folder is not null)
            {
                var about = new JsonObject
                {
                    ["data"] = Path.GetFileName(Path.GetFullPath(dataPath)),
                    ["model"] = Path.GetFileName(Path.GetFullPath(lm.Directory)),
                    ["answers"] = scored.Count,
                    ["unreadable"] = bad,
                    ["methods"] = new JsonObject(
                        methods.Select(m => KeyValuePair.Create(m.Name, (JsonNode?)m.Description))),
                };
                File.WriteAllText(Path.Combine(folder, "eval.json"),
                    GuardEvaluation.ToJson(groups, about)
                        .ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
                File.WriteAllText(Path.Combine(folder, "eval.md"), GuardEvaluation.Markdown(groups));
                Charts.RocChart.Write(probabilities, scored.Select(s => s.Answer.Hallucinated).ToArray(),
                    Path.Combine(folder, "roc.png"), $"{Path.GetFileName(dataPath)}: {scored.Count} answers");
                Console.Error.WriteLine($"wrote {folder}/eval.json, eval.md, roc.png");
            }
            return Task.FromResult(0);
        }));
        return command;
    }

    public static Command Fit()
    {
        var model = CommonOptions.ModelAndDevice();
        var map = new Option<string?>("--map")
        {
            Description = "Head map (JSON); found by the model's fingerprint when omitted",
        };
        var data = new Option<string>("--data")
        {
            Description = "Labelled answers from text the evaluation never uses (make-eval JSONL)",
            Required = true,
        };
        var output = CommonOptions.OutputFile("--out", "Calibration file to write (*.calibration.json)");
        var limit = new Option<int?>("--limit") { Description = "Use only the first N answers" };
        var features = FeaturesOption();
        var calibrator = new Option<string>("--calibrator")
        {
            Description = "boosted-trees (default: features interact) or logistic; baselines are fitted the same way",
            DefaultValueFactory = _ => "boosted-trees",
        };
        calibrator.AcceptOnlyFromAmong("boosted-trees", "logistic");
        var command = new Command("fit",
            "Fit the guard's calibration (and the baselines') for a model on labelled answers.")
            { data, output, limit, map, features, calibrator };
        foreach (var option in model.All)
            command.Options.Add(option);
        command.SetAction((parse, cancellation) => CliErrors.Guard(() =>
        {
            var outputPath = parse.GetValue(output)!;
            if (!outputPath.EndsWith(GuardCalibration.FileSuffix, StringComparison.Ordinal))
                throw new ArgumentException($"--out: a calibration file name ends in {GuardCalibration.FileSuffix}, "
                    + "so the guard can find it beside the head maps.");
            var dataPath = parse.GetValue(data)!;
            var (answers, _) = Read(dataPath, parse.GetValue(limit));
            using var lm = model.Load(parse);
            var guard = HallucinationGuard.ForModel(lm, parse.GetValue(map));
            var featuresPath = parse.GetValue(features);
            var (methods, scored) = Collect(lm, guard, answers, cancellation);
            WriteFeatures(featuresPath, methods, scored);
            var fingerprint = ModelFingerprint.Compute(lm.Directory);
            var kind = parse.GetValue(calibrator) == "logistic" ? CalibratorKind.Logistic : CalibratorKind.BoostedTrees;
            var calibration = GuardFitting.Fit(HeadMapModel.From(lm.Config, fingerprint, guard.Map.Model.Name),
                methods, scored, Path.GetFileName(dataPath), calibrator: kind);
            calibration.Fit["heads"] = new JsonArray(guard.Heads.Select(h => (JsonNode)h.Head.ToString()).ToArray());
            calibration.Save(outputPath);
            Console.WriteLine($"cross-validated on the fitting data (5 folds, {GuardFitting.Name(kind)}):");
            foreach (var (name, figures) in (JsonObject)calibration.Fit["cross_validated"]!)
                Console.WriteLine($"  {name,-20} AUROC {figures!["auroc"]}  ECE {figures["ece"]}");
            if (calibration.Fit["guard_with_other_calibrator"] is JsonObject other)
                Console.WriteLine($"  the guard with {other["calibrator"]}: AUROC {other["auroc"]}  "
                    + $"ECE {other["ece"]}");
            Console.WriteLine($"wrote {outputPath}");
            return Task.FromResult(0);
        }));
        return command;
    }

    private static Option<string> FeaturesOption() =>
        CommonOptions.OutputFile("--features", "Also write every method's features per answer as a TSV table",
            required: false);

    private static void WriteFeatures(string? path, IReadOnlyList<ScoringMethod> methods,
        IReadOnlyList<ScoredAnswer> scored)
    {
        if (path is null)
            return;
        using var writer = new StreamWriter(path);
        SignalCollector.WriteTable(writer, methods, scored);
        Console.Error.WriteLine($"wrote {path}");
    }

    private static (IReadOnlyList<LabelledAnswer>, int) Read(string path, int? limit)
    {
        var (answers, bad) = LabelledAnswerFiles.Read(path);
        foreach (var line in bad.Take(5))
            Console.Error.WriteLine($"skipped {line.File}:{line.Line}: {line.Reason}");
        if (bad.Count > 5)
            Console.Error.WriteLine($"skipped {bad.Count - 5} more unreadable lines");
        if (answers.Count == 0)
            throw new InvalidDataException($"{path}: no labelled answer could be read.");
        return (limit is int n ? answers.Take(n).ToArray() : answers, bad.Count);
    }

    private static (IReadOnlyList<ScoringMethod>, IReadOnlyList<ScoredAnswer>) Collect(Engine.LanguageModel lm,
        HallucinationGuard guard, IReadOnlyList<LabelledAnswer> answers, CancellationToken cancellation)
    {
        var methods = ScoringMethods.For(guard.Heads, SignalCollector.AllHeads(lm));
        var collector = new SignalCollector(lm, guard.Prompts, methods, guard.Options.PrefillChunk);
        var timer = Stopwatch.StartNew();
        IReadOnlyList<ScoredAnswer> scored = [];
        var skipped = 0;
        Progress(answers.Count, "reading answers", tick =>
            scored = collector.Collect(answers, (done, _) => tick(done), (answer, error) =>
            {
                if (skipped++ < 5)
                    Console.Error.WriteLine($"skipped {answer.Id}: {error.Message}");
            }, cancellation));
        Console.Error.WriteLine($"read {scored.Count} answers in {timer.Elapsed.TotalSeconds:F0} s"
            + (skipped > 0 ? $" ({skipped} skipped)" : ""));
        return (methods, scored);
    }

    /// <summary>A progress bar on a terminal; a line every few seconds otherwise.</summary>
    private static void Progress(int total, string what, Action<Action<int>> work)
    {
        if (!Console.IsErrorRedirected && AnsiConsole.Profile.Capabilities.Interactive)
        {
            AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                new RemainingTimeColumn()).Start(ctx =>
                {
                    var task = ctx.AddTask(what, maxValue: Math.Max(1, total));
                    work(done => task.Value = done);
                });
            return;
        }
        var last = Stopwatch.StartNew();
        work(done =>
        {
            if (last.Elapsed.TotalSeconds >= 5 || done == total)
            {
                Console.Error.WriteLine($"{what}: {done}/{total}");
                last.Restart();
            }
        });
    }

    private static void Show(GuardReport report, IReadOnlyList<Passage> passages, bool calibrated)
    {
        var marked = new System.Text.StringBuilder();
        var at = 0;
        foreach (var span in report.Spans.Where(s => s.Flagged).OrderBy(s => s.Start))
        {
            marked.Append(Markup.Escape(report.Answer[at..span.Start]));
            marked.Append($"[white on red]{Markup.Escape(span.Text)}[/]");
            at = span.Start + span.Length;
        }
        marked.Append(Markup.Escape(report.Answer[at..]));
        AnsiConsole.MarkupLine(marked.ToString());
        AnsiConsole.MarkupLine(calibrated
            ? $"risk [bold]{report.Risk:F2}[/] ({(report.Flagged ? "[red]flagged[/]" : "[green]grounded[/]")})"
            : "risk: [yellow]no calibration for this model[/] (fit one with `rguard guard fit`)");
        foreach (var span in report.Spans)
            AnsiConsole.MarkupLine(
                $"  span '{Markup.Escape(span.Text)}' risk {span.Risk:F2}{(span.Flagged ? " [red]flagged[/]" : "")}");
        foreach (var sentence in report.Attribution)
        {
            var top = sentence.Passages.Take(2).Select(p => $"passage {p.PassageId} {p.Share:P0}");
            AnsiConsole.MarkupLine(
                $"  [grey]{Markup.Escape(sentence.Text)}[/] ← {Markup.Escape(string.Join(", ", top))}");
        }
        if (report.Citations.Count > 0)
            AnsiConsole.MarkupLine(
                $"cited: {Markup.Escape(string.Join(", ", report.Citations.Select(c => $"[{c}]")))}");
    }
}

using System.CommandLine;
using System.Text.Json;
using RetrievalGuard.Engine;
using RetrievalGuard.Data;
using RetrievalGuard.Organism.Evaluation;
using RetrievalGuard.Organism.Training;
using Spectre.Console;

namespace RetrievalGuard.Cli.Commands;

/// <summary><c>rguard organism train | make-eval | evaluate</c>: the project's own model organism.</summary>
internal static class OrganismCommand
{
    public static Command Create() => new("organism",
        "Train and evaluate the model organism (a small Llama trained on public-domain novels and synthetic tasks).")
    {
        Train(), MakeEval(), Evaluate(), LossChart(),
    };

    private static Command LossChart()
    {
        var log = new Option<string>("--log") { Description = "loss.csv written by organism train", Required = true };
        var png = CommonOptions.OutputFile("--png", "PNG to write");
        var command = new Command("loss-chart", "Plot a training loss log as a PNG.") { log, png };
        command.SetAction((parse, _) => CliErrors.Guard(() =>
        {
            Charts.LossChart.Write(parse.GetValue(log)!, parse.GetValue(png)!);
            Console.WriteLine($"wrote {parse.GetValue(png)}");
            return Task.FromResult(0);
        }));
        return command;
    }

    private static Command Train()
    {
        var corpus = new Option<string>("--corpus")
        {
            Description = "Folder of plain-text novels (the held-out the_coquette.txt is skipped)",
            Required = true,
        };
        var output = CommonOptions.OutputFolder("--out", "Checkpoint folder to write (created)", required: true);
        var tokenizer = new Option<string>("--tokenizer")
        {
            Description = "SentencePiece model to use",
            DefaultValueFactory = _ => CommonOptions.RepositoryPath("samples/models/organism/tokenizer.model"),
        };
        var device = CommonOptions.Device();
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1 };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 6000 };
        var minutes = new Option<double?>("--max-minutes")
        {
            Description = "Stop and save after this long even if steps remain",
        };
        var tokensPerStep = new Option<int?>("--tokens-per-step")
        {
            Description = "Batch size in tokens (default 65,536)",
        };
        var fit = new Option<double?>("--fit-minutes")
        {
            Description = "Shorten the schedule after a short calibration so the run ends within this many minutes "
                + "(not bit-reproducible; the steps used are logged)",
        };
        var mix = new Option<string>("--mix")
        {
            Description = "Training data mix: paraphrasing (the shipped model's) or reading-first (an experiment)",
            DefaultValueFactory = _ => TrainingMix.Paraphrasing.Name,
        };
        var command = new Command("train", "Train the organism from scratch and save it as a Hugging Face checkpoint.")
            { corpus, output, tokenizer, device, seed, steps, minutes, tokensPerStep, fit, mix };
        command.SetAction((parse, _) => CliErrors.Guard(() =>
        {
            var request = new OrganismTrainingRequest(parse.GetValue(corpus)!, parse.GetValue(tokenizer)!,
                parse.GetValue(output)!, parse.GetValue(device)!, parse.GetValue(seed), parse.GetValue(steps),
                parse.GetValue(minutes),
                parse.GetValue(tokensPerStep), parse.GetValue(fit), TrainingMix.Parse(parse.GetValue(mix)!));
            bool interactive = !Console.IsOutputRedirected;
            if (interactive)
            {
                AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(),
                        new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask("training", maxValue: request.Steps);
                        OrganismTraining.Run(request, p =>
                        {
                            task.MaxValue = p.Steps;
                            task.Value = p.Step + 1;
                            task.Description = $"loss {p.Loss:F3} ctx {p.ContextLength}";
                        });
                    });
            }
            else
            {
                OrganismTraining.Run(request, p =>
                {
                    if (p.Step % 100 == 0 || p.Step == p.Steps - 1)
                        Console.WriteLine($"step {p.Step}/{p.Steps} loss {p.Loss:F4} grad {p.GradientNorm:F2} "
                            + $"lr {p.LearningRate:G3} ctx {p.ContextLength}x{p.Rows} {p.ElapsedSeconds:F0}s");
                });
            }
            Console.WriteLine($"saved to {request.OutputFolder}");
            return Task.FromResult(0);
        }));
        return command;
    }

    private static Command MakeEval()
    {
        var model = CommonOptions.ModelAndDevice();
        var corpus = new Option<string>("--corpus")
        {
            Description = "Folder of text the model never trained on: haystacks and distractors come from it",
            Required = true,
        };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1 };
        var count = new Option<int>("--count")
        {
            Description = "Items in all: kinds, lengths 256-2048 and seen/held-out phrasings in turn",
            DefaultValueFactory = _ => 200,
        };
        var output = CommonOptions.OutputFile("--out", "JSONL file to write");
        var answers = new Option<bool>("--answers")
        {
            Description = "Write labelled answers to score teacher-forced (grounded, fabricated, swapped, parametric; "
                + "canonical, paraphrased, bare) instead of the model's own answers",
        };
        var phrasing = new Option<string>("--phrasing")
        {
            Description = "seen, held-out, or both (in turn): the phrasing forms of facts and questions",
            DefaultValueFactory = _ => "both",
        };
        var command = new Command("make-eval",
            "Build fresh prompts from held-out text and answer them greedily (or write answers to score), each "
            + "labelled by construction (JSONL).") { corpus, seed, count, output, answers, phrasing };
        foreach (var option in model.All)
            command.Options.Add(option);
        command.SetAction((parse, _) => CliErrors.Guard(() =>
        {
            var n = parse.GetValue(count);
            if (n <= 0)
                throw new ArgumentException("--count must be positive.");
            var path = parse.GetValue(output)!;
            using var lm = model.Load(parse);
            var evaluator = new OrganismEvaluator(lm);
            var builder = EvalSetBuilder.FromFolder(parse.GetValue(corpus)!, parse.GetValue(seed),
                countTokens: evaluator.CountTokens);
            var splits = parse.GetValue(phrasing) switch
            {
                "seen" => new[] { FormSplit.Seen },
                "held-out" => [FormSplit.HeldOut],
                "both" => [FormSplit.Seen, FormSplit.HeldOut],
                var other => throw new ArgumentException($"--phrasing must be seen, held-out or both, not '{other}'."),
            };
            var items = parse.GetValue(answers)
                ? TeacherForcedSet(builder, n, splits)
                : LiveSet(builder, evaluator, n, splits);
            EvalJsonl.WriteFile(path, items);
            var summary = new System.Text.Json.Nodes.JsonObject();
            OrganismReport.Summarise(summary, items);
            Console.WriteLine($"{items.Count} items → {path}");
            Console.WriteLine(OrganismReport.Markdown(summary));
            return Task.FromResult(0);
        }));
        return command;
    }

    private static readonly EvalKind[] LiveKinds =
        [EvalKind.Answerable, EvalKind.Conflict, EvalKind.Unanswerable, EvalKind.Niah];

    /// <summary>Item i: kind i mod 4, length (i / 4) mod 4, the phrasings in turn every 16 items.</summary>
    private static List<EvalItem> LiveSet(EvalSetBuilder builder, OrganismEvaluator evaluator, int count,
        FormSplit[] splits)
    {
        var lengths = OrganismReport.Lengths;
        var items = new List<EvalItem>(count);
        for (var i = 0; i < count; i++)
        {
            var kind = LiveKinds[i % LiveKinds.Length];
            var length = lengths[i / LiveKinds.Length % lengths.Length];
            var phrasing = splits[i / LiveKinds.Length / lengths.Length % splits.Length];
            items.Add(evaluator.Answer(builder.Build(kind, length, i, phrasing)));
            if ((i + 1) % 20 == 0 || i + 1 == count)
                Console.Error.WriteLine($"answered {i + 1}/{count}");
        }
        return items;
    }

    /// <summary>
    /// Answerable and conflict items in turn, every one with a same-attribute distractor (so a swapped answer exists),
    /// then every teacher-forced answer of each.
    /// </summary>
    private static List<EvalItem> TeacherForcedSet(EvalSetBuilder builder, int count, FormSplit[] splits)
    {
        var lengths = OrganismReport.Lengths;
        var withDistractor = DistractorMix.Default with { SameAttribute = 1 };
        return Enumerable.Range(0, count).SelectMany(i =>
        {
            var kind = i % 2 == 0 ? EvalKind.Answerable : EvalKind.Conflict;
            var phrasing = splits[i / 2 / lengths.Length % splits.Length];
            return builder.TeacherForcedAnswers(
                builder.Build(kind, lengths[i / 2 % lengths.Length], i, phrasing, withDistractor));
        }).ToList();
    }

    private static Command Evaluate()
    {
        var model = CommonOptions.ModelAndDevice();
        var corpus = new Option<string>("--corpus")
        {
            Description = "Folder of text the model never trained on",
            Required = true,
        };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 7 };
        var perCell = new Option<int>("--per-cell")
        {
            Description = "Items per NIAH grid cell",
            DefaultValueFactory = _ => 10,
        };
        var output = CommonOptions.OutputFile("--out", "Write the report JSON here", required: false);
        var command = new Command("evaluate", "The model card's evaluation table.") { corpus, seed, perCell, output };
        foreach (var option in model.All)
            command.Options.Add(option);
        command.SetAction((parse, _) => CliErrors.Guard(() =>
        {
            using var lm = model.Load(parse);
            var report = OrganismReport.Run(new OrganismEvaluator(lm), parse.GetValue(corpus)!, parse.GetValue(seed),
                parse.GetValue(perCell), Console.WriteLine);
            if (parse.GetValue(output) is { } path)
                File.WriteAllText(path, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            Console.WriteLine(OrganismReport.Markdown(report));
            return Task.FromResult(0);
        }));
        return command;
    }
}

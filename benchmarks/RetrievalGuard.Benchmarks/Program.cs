using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using RetrievalGuard.Benchmarks;

// rguard-bench: measurements that need a GPU or real model shapes. Results are printed and written as JSON.
var sinceStart = Stopwatch.StartNew();
var outOption = new Option<string?>("--out") { Description = "Write the results JSON here." };
var deviceOption = new Option<string>("--device")
    { Description = "cpu, cuda or cuda:N", DefaultValueFactory = _ => "cuda" };

var modelsArgument = new Argument<string[]>("models")
    { Description = "Checkpoint folders made by make_parity_checkpoints.py", Arity = ArgumentArity.OneOrMore };
var parity = new Command("parity", "Compare logits and greedy tokens with transformers' saved outputs.")
    { modelsArgument, deviceOption, outOption };
parity.SetAction(parse =>
{
    var results = new JsonArray();
    foreach (string dir in parse.GetValue(modelsArgument)!)
        results.Add(ParityCheck.Run(dir, parse.GetValue(deviceOption)!));
    return Write(new JsonObject { ["parity"] = results }, parse.GetValue(outOption));
});

var shapeOption = new Option<string>("--shape")
{
    Description = "llama-3.1-8b, qwen2.5-7b, mistral-7b-v0.1 or organism", DefaultValueFactory = _ => "llama-3.1-8b"
};
var layersOption = new Option<int?>("--layers") { Description = "Fewer layers than the real model (default: all)." };
var contextsOption = new Option<int[]>("--contexts")
    { Description = "Context lengths", DefaultValueFactory = _ => [1024, 8192], AllowMultipleArgumentsPerToken = true };
var dtypeOption = new Option<string>("--dtype") { DefaultValueFactory = _ => "bf16" };
var stepsOption = new Option<int>("--steps") { Description = "Timed decode steps", DefaultValueFactory = _ => 64 };
var probeOption = new Option<double>("--guard-fraction")
    { Description = "Share of heads the guard watches in the 'guard' variant", DefaultValueFactory = _ => 0.05 };
var chunkOption = new Option<int>("--prefill-chunk")
    { Description = "Prompt tokens per prefill pass (0 = all at once)", DefaultValueFactory = _ => 0 };
var variantsOption = new Option<string[]>("--variants")
{
    Description = "Decode variants: general (the general forward pass), eager (static step, no graphs), graphs, "
        + "unfused (graphs without the fused kernels), guard (graphs + probe)",
    DefaultValueFactory = _ => ["general", "eager", "graphs", "unfused", "guard"],
    AllowMultipleArgumentsPerToken = true,
};
var speed = new Command("speed", "Prefill and batch-1 decode throughput on random weights.")
{
    shapeOption, layersOption, contextsOption, deviceOption, dtypeOption, stepsOption, probeOption, chunkOption,
    variantsOption, outOption
};
speed.SetAction(parse => Write(SpeedBenchmark.Run(new SpeedBenchmark.Settings(parse.GetValue(shapeOption)!,
    parse.GetValue(layersOption), parse.GetValue(contextsOption)!, parse.GetValue(deviceOption)!,
    parse.GetValue(dtypeOption)!, parse.GetValue(stepsOption), parse.GetValue(probeOption),
    parse.GetValue(chunkOption), parse.GetValue(variantsOption)!)), parse.GetValue(outOption)));

var concurrencyOption = new Option<int[]>("--concurrency")
    { DefaultValueFactory = _ => [8, 32], AllowMultipleArgumentsPerToken = true };
var requestsOption = new Option<int>("--requests")
    { Description = "Requests served per concurrency level", DefaultValueFactory = _ => 96 };
var minPromptOption = new Option<int>("--min-prompt") { DefaultValueFactory = _ => 128 };
var maxPromptOption = new Option<int>("--max-prompt") { DefaultValueFactory = _ => 2048 };
var newTokensOption = new Option<int>("--new-tokens")
    { Description = "Mean new tokens per request (each draws from half to 1.5×)", DefaultValueFactory = _ => 128 };
var cachesOption = new Option<string[]>("--cache")
{
    Description = "KV cache policies to compare (full, headaware, streaming)", DefaultValueFactory = _ => ["full"],
    AllowMultipleArgumentsPerToken = true,
};
var cacheMapOption = new Option<string?>("--cache-map")
    { Description = "Head map for headaware (default: the shape's)" };
var fullShareOption = new Option<double>("--full-share") { DefaultValueFactory = _ => 0.25 };
var sinkOption = new Option<int>("--sink") { DefaultValueFactory = _ => 4 };
var windowOption = new Option<int>("--window") { DefaultValueFactory = _ => 128 };
var budgetOption = new Option<double>("--kv-budget-gib")
{
    Description = "Fill this KV budget with as many rows as each policy fits (instead of --concurrency)",
};
var capacityOption = new Option<int?>("--capacity") { Description = "Positions per row (default: longest request)" };
var planOnlyOption = new Option<bool>("--plan-only") { Description = "Print rows per policy and budget; load nothing" };
var joinOption = new Option<string[]>("--join")
{
    Description = $"How requests join between steps: {BatchBenchmark.Together} (one batched prefill), "
        + $"{BatchBenchmark.OneByOne}, or both (compared)",
    DefaultValueFactory = _ => [BatchBenchmark.Together], AllowMultipleArgumentsPerToken = true,
};
var batch = new Command("batch", "Continuous batching: aggregate throughput at several concurrency levels.")
{
    shapeOption, layersOption, concurrencyOption, deviceOption, dtypeOption, requestsOption, minPromptOption,
    maxPromptOption, newTokensOption, cachesOption, cacheMapOption, fullShareOption, sinkOption, windowOption,
    budgetOption, capacityOption, planOnlyOption, joinOption, outOption,
};
batch.SetAction(parse => Write(BatchBenchmark.Run(new BatchBenchmark.Settings(parse.GetValue(shapeOption)!,
    parse.GetValue(layersOption), parse.GetValue(concurrencyOption)!, parse.GetValue(deviceOption)!,
    parse.GetValue(dtypeOption)!, parse.GetValue(requestsOption), parse.GetValue(minPromptOption),
    parse.GetValue(maxPromptOption), parse.GetValue(newTokensOption))
{
    Caches = parse.GetValue(cachesOption)!, MapPath = parse.GetValue(cacheMapOption),
    FullShare = parse.GetValue(fullShareOption), Sink = parse.GetValue(sinkOption),
    Window = parse.GetValue(windowOption),
    BudgetGiB = parse.GetValue(budgetOption), Capacity = parse.GetValue(capacityOption),
    PlanOnly = parse.GetValue(planOnlyOption), Joins = parse.GetValue(joinOption)!,
}), parse.GetValue(outOption)));

var modelArgument = new Argument<string>("model") { Description = "Checkpoint folder (safetensors + config.json)" };
var promptOption = new Option<int>("--prompt-tokens") { DefaultValueFactory = _ => 512 };
var cold = new Command("cold-start", "Time to first token from a cold process for a checkpoint on disk.")
    { modelArgument, deviceOption, promptOption, outOption };
cold.SetAction(parse => Write(ColdStartBenchmark.Run(parse.GetValue(modelArgument)!, parse.GetValue(deviceOption)!,
    parse.GetValue(promptOption), sinceStart), parse.GetValue(outOption)));

var checkModelArgument = new Argument<string>("model")
    { Description = "Checkpoint folder, e.g. samples/models/organism" };
var rowsOption = new Option<int>("--rows") { DefaultValueFactory = _ => 4 };
var checkDtypeOption = new Option<string>("--dtype") { DefaultValueFactory = _ => "fp32" };
var batchCheck = new Command("batch-check", "Continuous batching gives the tokens each request gets alone (greedy).")
    { checkModelArgument, deviceOption, checkDtypeOption, rowsOption, outOption };
batchCheck.SetAction(parse => Write(BatchCheck.Run(parse.GetValue(checkModelArgument)!, parse.GetValue(deviceOption)!,
    parse.GetValue(checkDtypeOption)!, requests: 10, rows: parse.GetValue(rowsOption), newTokens: 48),
    parse.GetValue(outOption)));

var gemv = new Command("gemv", "Bandwidth of the 8B projections as matrix-vector products (CUDA graphs).")
    { deviceOption, outOption };
gemv.SetAction(parse => Write(GemvBenchmark.Run(parse.GetValue(deviceOption)!), parse.GetValue(outOption)));

var checkStepsOption = new Option<int>("--steps") { DefaultValueFactory = _ => 32 };
var kernelCheck = new Command("kernel-check",
    "Fused decode kernels vs libtorch's operators and the general path (tokens, log-probs, probe rows).")
    { deviceOption, checkStepsOption, outOption };
kernelCheck.SetAction(parse => Write(KernelCheck.Run(parse.GetValue(deviceOption)!, parse.GetValue(checkStepsOption)),
    parse.GetValue(outOption)));

var tokenizerOption = new Option<string>("--tokenizer")
{
    Description = "Tokenizer folder for the shape (default: Llama 3's, from ../shared here, "
        + "from .device on the GPU machine)",
    DefaultValueFactory = _ => new[] { "../shared/tokenizers/llama3", ".device/tokenizers/llama3" }
        .FirstOrDefault(Directory.Exists) ?? "../shared/tokenizers/llama3",
};
var headMapOption = new Option<string>("--map")
{
    Description = "Head map for the shape",
    DefaultValueFactory = _ => Bench.DefaultMap("llama-3.1-8b"),
};
var corpusOption = new Option<string>("--corpus") { DefaultValueFactory = _ => "samples/corpus/emma.txt" };
var streamContextsOption = new Option<int[]>("--contexts")
{
    Description = "Prompt lengths for streaming", DefaultValueFactory = _ => [1024, 32768],
    AllowMultipleArgumentsPerToken = true,
};
var scoreContextOption = new Option<int>("--score-context") { DefaultValueFactory = _ => 4096 };
var answerTokensOption = new Option<int>("--answer-tokens") { DefaultValueFactory = _ => 128 };
var streamTokensOption = new Option<int>("--stream-tokens") { DefaultValueFactory = _ => 64 };
var guardCost = new Command("guard-cost",
    "The guard's cost: streaming with risk vs plain; teacher-forced scoring vs prefill.")
{
    shapeOption, layersOption, deviceOption, dtypeOption, tokenizerOption, headMapOption, corpusOption,
    streamContextsOption, scoreContextOption, answerTokensOption, streamTokensOption, probeOption, outOption,
};
guardCost.SetAction(parse => Write(GuardCostBenchmark.Run(new GuardCostBenchmark.Settings(parse.GetValue(shapeOption)!,
    parse.GetValue(layersOption), parse.GetValue(deviceOption)!, parse.GetValue(dtypeOption)!,
    parse.GetValue(tokenizerOption)!, parse.GetValue(headMapOption)!, parse.GetValue(corpusOption)!,
    parse.GetValue(streamContextsOption)!, parse.GetValue(scoreContextOption), parse.GetValue(answerTokensOption),
    parse.GetValue(streamTokensOption), parse.GetValue(probeOption))), parse.GetValue(outOption)));

var dirArgument = new Argument<string>("results")
    { Description = "A folder written by benchmarks/gpu/run-performance.sh" };
var report = new Command("report", "Print the table of ours vs transformers with ratios and targets.") { dirArgument };
report.SetAction(parse =>
{
    string table = Report.Build(parse.GetValue(dirArgument)!);
    Console.Write(table);
    File.WriteAllText(Path.Combine(parse.GetValue(dirArgument)!, "summary.md"), table);
    return 0;
});

var root = new RootCommand("RetrievalGuard benchmarks")
    { parity, speed, batch, cold, report, batchCheck, gemv, kernelCheck, guardCost };
// Bad input (an unknown cache or shape, a device this libtorch lacks, a missing file) gets its message on one line,
// not a stack trace.
try
{
    return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception e) when (e is ArgumentException or NotSupportedException or IOException or InvalidDataException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

static int Write(JsonObject result, string? path)
{
    result["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd");
    string json = result.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    if (path is not null) File.WriteAllText(path, json);
    Console.WriteLine(json);
    return 0;
}

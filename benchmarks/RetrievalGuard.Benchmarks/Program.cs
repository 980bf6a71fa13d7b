using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using RetrievalGuard.Benchmarks;

// rguard-bench: measurements that need a GPU or real model shapes. Results are printed and written as JSON.
var outOption = new Option<string?>("--out") { Description = "Write the results JSON here." };
var deviceOption = new Option<string>("--device") { Description = "cpu, cuda or cuda:N", DefaultValueFactory = _ => "cuda" };

var modelsArgument = new Argument<string[]>("models") { Description = "Checkpoint folders made by make_parity_checkpoints.py", Arity = ArgumentArity.OneOrMore };
var parity = new Command("parity", "Compare logits and greedy tokens with transformers' saved outputs.") { modelsArgument, deviceOption, outOption };
parity.SetAction(parse =>
{
    var results = new JsonArray();
    foreach (string dir in parse.GetValue(modelsArgument)!) results.Add(ParityCheck.Run(dir, parse.GetValue(deviceOption)!));
    return Write(new JsonObject { ["date"] = DateTime.UtcNow.ToString("yyyy-MM-dd"), ["parity"] = results }, parse.GetValue(outOption));
});

var shapeOption = new Option<string>("--shape") { Description = "llama-3.1-8b, qwen2.5-7b, mistral-7b-v0.1 or organism", DefaultValueFactory = _ => "llama-3.1-8b" };
var layersOption = new Option<int?>("--layers") { Description = "Fewer layers than the real model (default: all)." };
var contextsOption = new Option<int[]>("--contexts") { Description = "Context lengths", DefaultValueFactory = _ => [1024, 8192], AllowMultipleArgumentsPerToken = true };
var dtypeOption = new Option<string>("--dtype") { DefaultValueFactory = _ => "bf16" };
var stepsOption = new Option<int>("--steps") { Description = "Timed decode steps", DefaultValueFactory = _ => 64 };
var probeOption = new Option<int>("--probe-heads") { Description = "Also decode with a probe on this many heads (0 = off)", DefaultValueFactory = _ => 0 };
var speed = new Command("speed", "Prefill and batch-1 decode throughput on random weights.") { shapeOption, layersOption, contextsOption, deviceOption, dtypeOption, stepsOption, probeOption, outOption };
speed.SetAction(parse => Write(
    SpeedBenchmark.Run(parse.GetValue(shapeOption)!, parse.GetValue(layersOption), parse.GetValue(contextsOption)!, parse.GetValue(deviceOption)!,
        parse.GetValue(dtypeOption)!, parse.GetValue(stepsOption), parse.GetValue(probeOption)),
    parse.GetValue(outOption)));

var root = new RootCommand("RetrievalGuard benchmarks") { parity, speed };
return root.Parse(args).Invoke();

static int Write(JsonObject result, string? path)
{
    string json = result.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    if (path is not null) File.WriteAllText(path, json);
    Console.WriteLine(json);
    return 0;
}

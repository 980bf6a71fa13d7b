using System.Diagnostics;
using System.Text.Json.Nodes;
using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Generation;

namespace RetrievalGuard.Benchmarks;

/// <summary>
/// Time to first token for a checkpoint on disk, from a cold process: load (safetensors → device in the checkpoint's
/// dtype, one tensor at a time, no fp32 copy) and a prompt's prefill. Reports the host's peak resident memory, which
/// stays far below the model's size when no full host copy is made.
/// </summary>
public static class ColdStartBenchmark
{
    public static JsonObject Run(string directory, string device, int promptTokens, Stopwatch sinceStart)
    {
        double startup = sinceStart.Elapsed.TotalSeconds;
        var watch = Stopwatch.StartNew();
        using var model = LanguageModel.Load(directory, new LoadOptions { Device = device, DType = "auto" });
        Bench.Synchronize(model.Device);
        double load = watch.Elapsed.TotalSeconds;
        var prompt = Bench.RandomTokens(promptTokens, model.Config.VocabSize, seed: 3);
        watch.Restart();
        int first = -1;
        using (var cache = model.CreateCache(promptTokens + 8))
            foreach (var step in TokenGenerator.Generate(model.Network, prompt, cache,
                new GenerationOptions { MaxNewTokens = 1 }, []))
                first = step.Id;
        double firstToken = watch.Elapsed.TotalSeconds;
        var sizeOnDisk = Directory.EnumerateFiles(directory, "*.safetensors").Sum(f => new FileInfo(f).Length);
        return new JsonObject
        {
            ["model"] = directory,
            ["dtype"] = model.DType.ToString(),
            ["parameters_b"] = Math.Round(model.ParameterCount / 1e9, 2),
            ["checkpoint_gib"] = Math.Round(sizeOnDisk / (double)(1L << 30), 2),
            ["runtime_start_seconds"] = Math.Round(startup, 2),
            ["load_seconds"] = Math.Round(load, 2),
            ["prompt_tokens"] = promptTokens,
            ["prefill_and_first_token_seconds"] = Math.Round(firstToken, 3),
            ["time_to_first_token_seconds"] = Math.Round(sinceStart.Elapsed.TotalSeconds, 2),
            ["host_peak_rss_gib"] = Bench.PeakHostGiB(),
            ["first_token"] = first,
        };
    }
}

using System.Text.Json.Nodes;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Kernels;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Native;
using RetrievalGuard.Engine.Probes;

namespace RetrievalGuard.Benchmarks;

/// <summary>
/// The fused decode kernels against libtorch's composite operators on a GPU: the same random model and prompt decoded
/// greedily three ways (fused static step from CUDA graphs, the unfused static step from graphs, the general forward
/// pass), with a probe keeping full rows of a few heads. Reports whether the tokens agree and the largest differences
/// of log-probabilities, entropies and probed attention weights.
/// </summary>
public static class KernelCheck
{
    public sealed record Case(string Shape, string DType, int Context);

    public static readonly Case[] Cases =
    [
        new("llama-3.1-8b", "fp32", 700), new("llama-3.1-8b", "bf16", 700), new("llama-3.1-8b", "bf16", 5000),
        new("qwen2.5-7b", "fp32", 700), new("qwen2.5-7b", "bf16", 700),
        new("mistral-7b-v0.1", "fp32", 4600), new("mistral-7b-v0.1", "bf16", 4600),   // past its 4,096 sliding window
        new("organism", "fp32", 1500), new("organism", "bf16", 1500),
    ];

    public static JsonObject Run(string device, int steps)
    {
        var rows = new JsonArray();
        foreach (var c in Cases)
        {
            using var network = Bench.RandomModel(c.Shape, c.Shape == "organism" ? null : 2, device, c.DType);
            var kernels = network.FusedKernels(out string? reason);
            var config = network.Config;
            int[] prompt = Bench.RandomTokens(c.Context, config.VocabSize, seed: c.Context);
            HeadIndex[] heads =
                [new(0, 0), new(0, config.NumHeads - 1), new(config.NumLayers - 1, config.NumHeads / 2)];
            using var probe =
                new AttentionProbe(heads, config.NumLayers, config.NumHeads) { KeepRows = true, TopK = 4 };
            var fused = Decode(network, prompt, steps, probe, general: false);
            List<TokenStep> unfused;
            using (Unfused()) unfused = Decode(network, prompt, steps, probe, general: false);
            var general = Decode(network, prompt, steps, probe, general: true);
            var row = new JsonObject
            {
                ["shape"] = c.Shape, ["layers"] = config.NumLayers, ["dtype"] = network.DType.ToString(),
                ["context"] = c.Context,
                ["fused_kernels"] = kernels is not null, ["fused_unavailable"] = reason,
                ["steps"] = steps,
                ["tokens_equal_fused_vs_unfused"] = Prefix(fused, unfused),
                ["tokens_equal_fused_vs_general"] = Prefix(fused, general),
                ["tokens_equal_unfused_vs_general"] = Prefix(unfused, general),
            };
            // Differences over the common prefix (after a token differs, the sequences see different inputs).
            int common = Prefix(fused, unfused);
            row["max_abs_logprob_diff"] = Max(fused, unfused, common, s => [s.LogProb]);
            row["max_abs_entropy_diff"] = Max(fused, unfused, common, s => [s.Entropy]);
            row["max_abs_probe_weight_diff"] =
                Max(fused, unfused, common, s => s.Attention!.SelectMany(r => r).ToArray());
            row["max_abs_logprob_diff_vs_general"] = Max(fused, general, Prefix(fused, general), s => [s.LogProb]);
            Console.WriteLine(row.ToJsonString());
            rows.Add(row);
        }
        return new JsonObject { ["device"] = device, ["kernel_check"] = rows };
    }

    private static List<TokenStep> Decode(LlamaModel network, int[] prompt, int steps, AttentionProbe probe,
        bool general)
    {
        using var cache = network.CreateCache(prompt.Length + steps + 8);
        var options = new GenerationOptions { MaxNewTokens = steps, Probe = probe, ForceGeneralPath = general };
        return TokenGenerator.Generate(network, prompt, cache, options, []).ToList();
    }

    private static int Prefix(List<TokenStep> a, List<TokenStep> b) =>
        a.Zip(b).TakeWhile(p => p.First.Id == p.Second.Id).Count();

    // Step 0 is the prefill's token (the same forward pass in every variant); decode steps follow.
    private static double Max(List<TokenStep> a, List<TokenStep> b, int count, Func<TokenStep, float[]> values)
    {
        double max = 0;
        for (int i = 1; i < count; i++)
        {
            float[] x = values(a[i]), y = values(b[i]);
            for (int j = 0; j < Math.Min(x.Length, y.Length); j++) max = Math.Max(max, Math.Abs(x[j] - y[j]));
        }
        return Math.Round(max, 7);
    }

    /// <summary>
    /// Turns the fused kernels off for decode steps inside the scope (the step falls back to libtorch's operators).
    /// </summary>
    public static IDisposable Unfused() => Bench.Switched(Switches.FusedKernels, "0");
}

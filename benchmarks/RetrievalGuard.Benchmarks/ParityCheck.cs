using System.Text.Json.Nodes;
using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Generation;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Benchmarks;

/// <summary>
/// Compares the engine with transformers on a checkpoint folder made by make_parity_checkpoints.py: last-token
/// logits (max abs difference) and 32 greedy tokens, in fp32 and bf16.
/// </summary>
public static class ParityCheck
{
    public static JsonObject Run(string modelDirectory, string device)
    {
        using var reference = SafetensorsFile.Open(Path.Combine(modelDirectory, "reference.safetensors"));
        var ids = reference.Read("input_ids").to(int64);
        int[] prompt = ids[0].data<long>().ToArray().Select(i => (int)i).ToArray();
        var result = new JsonObject
        {
            ["model"] = Path.GetFileName(modelDirectory.TrimEnd('/')), ["prompt_tokens"] = prompt.Length,
            ["device"] = device,
            ["tf32_matmul"] = device.StartsWith("cuda", StringComparison.Ordinal)
                && torch.backends.cuda.matmul.allow_tf32,
        };
        foreach (string dtype in new[] { "fp32", "bf16" })
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            using var model = LanguageModel.Load(modelDirectory, new LoadOptions { Device = device, DType = dtype });
            double loadSeconds = watch.Elapsed.TotalSeconds;
            float[] expectedLogits = reference.Read($"logits_{dtype}").to(float32).data<float>().ToArray();
            float[] logits;
            using (NewDisposeScope())
            using (no_grad())
            {
                var input = tensor(prompt.Select(i => (long)i).ToArray(), dtype: int64, device: model.Device)
                    .unsqueeze(0);
                logits = model.Network.forward(input, new() { LogitsToKeep = 1 })[0, -1].to(float32).cpu()
                    .data<float>().ToArray();
            }
            double maxDiff = logits.Zip(expectedLogits, (a, b) => Math.Abs(a - b)).Max();
            double maxRef = expectedLogits.Max(Math.Abs);
            long[] expectedTokens = reference.Read($"greedy_{dtype}").to(int64).data<long>().ToArray();
            // Greedy through the static decode step (CUDA graphs on a GPU), and through the general forward pass.
            int Matching(bool general, out string path)
            {
                using var cache = model.CreateCache(prompt.Length + expectedTokens.Length);
                var tokens = TokenGenerator.Generate(model.Network, prompt, cache,
                        new GenerationOptions { MaxNewTokens = expectedTokens.Length, ForceGeneralPath = general }, [])
                    .Select(s => (long)s.Id).ToArray();
                path = general ? "general forward"
                    : DecodeRunner.For(model.Network, cache.Storage).UsesGraphs ? "static step, CUDA graphs"
                    : "static step, eager";
                return tokens.Zip(expectedTokens).TakeWhile(p => p.First == p.Second).Count();
            }
            int matching = Matching(general: false, out string decodePath);
            int matchingGeneral = Matching(general: true, out _);
            result[dtype] = new JsonObject
            {
                ["load_seconds"] = Math.Round(loadSeconds, 2),
                ["last_logits_max_abs_diff"] = maxDiff,
                ["last_logits_max_abs_reference"] = maxRef,
                ["greedy_tokens"] = expectedTokens.Length,
                ["greedy_matching_prefix"] = matching,
                ["greedy_all_match"] = matching == expectedTokens.Length,
                ["greedy_decode_path"] = decodePath,
                ["greedy_matching_prefix_general_path"] = matchingGeneral,
                ["argmax_match"] =
                    Array.IndexOf(logits, logits.Max()) == Array.IndexOf(expectedLogits, expectedLogits.Max()),
            };
            Console.WriteLine($"{result["model"]} {dtype}: max |Δlogit| {maxDiff:G3} (|logit| ≤ {maxRef:G3}), "
                + $"greedy {matching}/{expectedTokens.Length} match ({decodePath}), "
                + $"general path {matchingGeneral}/{expectedTokens.Length}");
        }
        return result;
    }
}

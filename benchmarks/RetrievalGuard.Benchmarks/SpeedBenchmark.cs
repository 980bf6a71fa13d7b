using System.Diagnostics;
using System.Text.Json.Nodes;
using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Probes;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Benchmarks;

/// <summary>
/// Prefill and batch-1 greedy decode throughput on random weights of a published shape, measured the way
/// hf_llama_baseline.py measures transformers: a 128-token warm-up, one timed prefill, 4 warm-up then N timed
/// decode steps. Our decode steps go through the real generation path (token read back to the host each step).
/// </summary>
public static class SpeedBenchmark
{
    public static JsonObject Run(string shape, int? layers, int[] contexts, string device, string dtype, int decodeSteps, int probeHeads)
    {
        var config = ModelShapes.Get(shape, layers);
        var dev = ComputeOptions.ParseDevice(device);
        var type = ComputeOptions.ParseDType(dtype, dev, config.TorchDtype);
        var watch = Stopwatch.StartNew();
        using var network = new LlamaModel(config, type, dev);
        network.InitializeWeights(seed: 0);
        network.eval();
        Synchronize(dev);
        var result = new JsonObject
        {
            ["shape"] = shape, ["layers"] = config.NumLayers, ["device"] = device, ["dtype"] = type.ToString(),
            ["init_seconds"] = Math.Round(watch.Elapsed.TotalSeconds, 2), ["decode_steps"] = decodeSteps,
        };
        var rows = new JsonArray();
        foreach (int context in contexts)
        {
            var row = new JsonObject { ["context"] = context };
            using (var cache = network.CreateCache(context + decodeSteps + 8))
            {
                int[] prompt = RandomTokens(context, config.VocabSize);
                Prefill(network, prompt[..Math.Min(128, context)], cache);
                cache.Truncate(0);
                Synchronize(dev);
                watch.Restart();
                Prefill(network, prompt, cache);
                Synchronize(dev);
                double prefill = watch.Elapsed.TotalSeconds;
                row["prefill_seconds"] = Math.Round(prefill, 4);
                row["prefill_tok_s"] = Math.Round(context / prefill);
                // Two runs: the first decode after a prefill of a new length has been slow (allocator, kernel choice).
                row["decode_tok_s_first_run"] = Decode(network, prompt, cache, decodeSteps, null, dev);
                row["decode_tok_s"] = Decode(network, prompt, cache, decodeSteps, null, dev);
            }
            if (probeHeads > 0)
            {
                using var cache = network.CreateCache(context + decodeSteps + 8);
                int[] prompt = RandomTokens(context, config.VocabSize);
                var heads = Enumerable.Range(0, probeHeads).Select(i => new HeadIndex(i * 7 % config.NumLayers, i * 5 % config.NumHeads)).Distinct();
                using var probe = network.CreateProbe(heads);
                row["probe_heads"] = probe.Count;
                row["decode_tok_s_with_probe"] = Decode(network, prompt, cache, decodeSteps, probe, dev);
            }
            Console.WriteLine(row.ToJsonString());
            rows.Add(row);
        }
        result["results"] = rows;
        return result;
    }

    private static double Decode(LlamaModel network, int[] prompt, IKvCache cache, int steps, AttentionProbe? probe, Device dev)
    {
        if (cache.Length == 0) Prefill(network, prompt, cache);
        cache.Truncate(prompt.Length - 1);
        // Generation re-reads the last prompt token, then produces warm-up + timed tokens.
        var options = new GenerationOptions { MaxNewTokens = steps + 5, Probe = probe };
        var timer = new Stopwatch();
        int made = 0;
        foreach (var _ in TokenGenerator.Generate(network, [prompt[^1]], cache, options, []))
        {
            if (++made == 5) { Synchronize(dev); timer.Start(); }
        }
        Synchronize(dev);
        return Math.Round(steps / timer.Elapsed.TotalSeconds, 1);
    }

    private static void Prefill(LlamaModel network, int[] tokens, IKvCache cache)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = tensor(tokens.Select(t => (long)t).ToArray(), dtype: int64, device: network.Device).unsqueeze(0);
        network.forward(input, new ForwardOptions { Cache = cache, StartPosition = cache.Length, LogitsToKeep = 1 });
    }

    private static int[] RandomTokens(int count, int vocab)
    {
        var random = new Random(count);
        return Enumerable.Range(0, count).Select(_ => random.Next(vocab)).ToArray();
    }

    private static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) torch.cuda.synchronize(device);
    }
}

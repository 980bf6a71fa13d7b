using System.Diagnostics;
using System.Text.Json.Nodes;
using RetrievalGuard.Engine.Native;
using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Heads.Caching;
using RetrievalGuard.Heads.Maps;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Benchmarks;

/// <summary>
/// Prefill and batch-1 greedy decode throughput on random weights of a published shape, measured the way
/// hf_llama_baseline.py measures transformers: a 128-token warm-up, one timed prefill, 4 warm-up then N timed
/// decode steps. Decode goes through the real generation path (token read back to the host each step), in up to
/// four variants: the general forward pass (the engine before the static step), the static step run eagerly, the
/// static step replayed from CUDA graphs, and the same with guard monitoring on (a probe on ~5% of heads keeping
/// top-4 positions and per-segment mass on the device).
/// </summary>
public static class SpeedBenchmark
{
    public sealed record Settings(string Shape, int? Layers, int[] Contexts, string Device, string DType,
        int DecodeSteps, double ProbeFraction, int PrefillChunk, string[] Variants);

    public static JsonObject Run(Settings s)
    {
        var watch = Stopwatch.StartNew();
        using var network = Bench.RandomModel(s.Shape, s.Layers, s.Device, s.DType);
        var (config, dev) = (network.Config, network.Device);
        Bench.Synchronize(dev);
        var result = new JsonObject
        {
            ["shape"] = s.Shape, ["layers"] = config.NumLayers, ["device"] = s.Device,
            ["dtype"] = network.DType.ToString(), ["init_seconds"] = Math.Round(watch.Elapsed.TotalSeconds, 2),
            ["decode_steps"] = s.DecodeSteps, ["prefill_chunk"] = s.PrefillChunk,
        };
        var rows = new JsonArray();
        foreach (int context in s.Contexts)
        {
            var row = new JsonObject { ["context"] = context };
            int[] prompt = Bench.RandomTokens(context, config.VocabSize, seed: context);
            // With only headaware variants, no full cache is made at all (peak memory is then the compressed
            // cache's, sampled from outside the process) and the prefill timings are the compressed cache's.
            bool compressedOnly = s.Variants.All(v => v.StartsWith("headaware", StringComparison.Ordinal));
            using (var cache = compressedOnly ? null : network.CreateCache(context + s.DecodeSteps + 8))
            using (var compressedTimed = compressedOnly
                ? network.CreateCache(Bench.CachePolicy("headaware", config, s.Shape), context + s.DecodeSteps + 8)
                : null)
            {
                IKvCache timed = (IKvCache?)cache ?? compressedTimed!;
                row["prefill_cache"] = compressedOnly ? "headaware" : "full";
                Prefill(network, prompt[..Math.Min(128, context)], timed, s.PrefillChunk);
                timed.Truncate(0);
                Bench.Synchronize(dev);
                watch.Restart();
                Prefill(network, prompt, timed, s.PrefillChunk);
                Bench.Synchronize(dev);
                double prefill = watch.Elapsed.TotalSeconds;
                row["prefill_seconds"] = Math.Round(prefill, 4);
                row["prefill_tok_s"] = Math.Round(context / prefill);
                // The single timed prefill above includes first-use costs of its length; the median of three more is
                // the steady rate (hf_prefill_repeat.py measures transformers the same way).
                var repeats = new List<double>();
                for (int r = 0; r < 3; r++)
                {
                    timed.Truncate(0);
                    Bench.Synchronize(dev);
                    watch.Restart();
                    Prefill(network, prompt, timed, s.PrefillChunk);
                    Bench.Synchronize(dev);
                    repeats.Add(watch.Elapsed.TotalSeconds);
                }
                row["prefill_tok_s_repeat_median"] = Math.Round(context / repeats.Order().ElementAt(1));
                compressedTimed?.Dispose(); // the decode runs below make their own

                foreach (string variant in s.Variants)
                {
                    switch (variant)
                    {
                        case "general":
                            row["decode_general_tok_s"] = Decode(network, prompt, cache!, s.DecodeSteps, null, dev,
                                general: true);
                            break;
                        case "eager":
                            using (Bench.GraphsOff())
                            {
                                using var eagerCache = network.CreateCache(context + s.DecodeSteps + 8);
                                row["decode_static_eager_tok_s"] = Decode(network, prompt, eagerCache, s.DecodeSteps,
                                    null, dev, general: false, prefillChunk: s.PrefillChunk);
                            }
                            break;
                        case "graphs":
                            // The first run captures the graphs of its shape buckets; the second replays them.
                            row["decode_tok_s_first_run"] = Decode(network, prompt, cache!, s.DecodeSteps, null, dev,
                                general: false);
                            row["decode_tok_s"] = Decode(network, prompt, cache!, s.DecodeSteps, null, dev,
                                general: false);
                            var runner = DecodeRunner.For(network, cache!.Storage);
                            row["cuda_graphs"] = runner.UsesGraphs;
                            row["fused_kernels"] = network.FusedKernels(out string? unfusedReason) is not null;
                            if (unfusedReason is not null) row["fused_kernels_unavailable"] = unfusedReason;
                            row["graph_nodes"] = runner.LastGraphNodes;
                            if (!runner.UsesGraphs) row["cuda_graphs_unavailable"] = runner.GraphsUnavailableReason;
                            break;
                        case "unfused":
                            // The same graphs without the fused kernels (libtorch's operators): the before of
                            // the kernels.
                            using (KernelCheck.Unfused())
                            {
                                using var unfusedCache = network.CreateCache(context + s.DecodeSteps + 8);
                                Decode(network, prompt, unfusedCache, s.DecodeSteps, null, dev, general: false,
                                    prefillChunk: s.PrefillChunk);
                                row["decode_unfused_tok_s"] = Decode(network, prompt, unfusedCache, s.DecodeSteps, null,
                                    dev, general: false);
                                row["unfused_graph_nodes"] = DecodeRunner.For(network, unfusedCache.Storage)
                                    .LastGraphNodes;
                            }
                            break;
                        case "guard":
                            using (var probe = GuardProbe(network, s.ProbeFraction, context))
                            {
                                Decode(network, prompt, cache!, s.DecodeSteps, probe, dev, general: false);
                                row["guard_heads"] = probe.Count;
                                row["decode_guard_tok_s"] = Decode(network, prompt, cache!, s.DecodeSteps, probe, dev,
                                    general: false);
                            }
                            if (row["decode_tok_s"] is JsonValue off)
                                row["guard_slowdown_percent"] = Math.Round(
                                    100 * (1 - row["decode_guard_tok_s"]!.GetValue<double>()
                                        / off.GetValue<double>()), 1);
                            break;
                        case "headaware":
                        case "headaware-general":
                            // The compressed cache of one sequence (the shape's head map, 25% of KV heads whole, sink 4
                            // + window 128): its static step, or the general pass; a fresh cache each run.
                            bool viaGeneral = variant == "headaware-general";
                            var policy = Bench.CachePolicy("headaware", network.Config, s.Shape);
                            for (int run = 0; run < 2; run++)
                            {
                                using var compressed = network.CreateCache(policy, context + s.DecodeSteps + 8);
                                double rate = Decode(network, prompt, compressed, s.DecodeSteps, null, dev, viaGeneral,
                                    s.PrefillChunk);
                                row[viaGeneral ? "decode_headaware_general_tok_s" : "decode_headaware_tok_s"] = rate;
                                var held = (HeadAwareKvCache)compressed;
                                row["headaware_kv_gib"] = Math.Round(held.SizeInBytes / (double)(1L << 30), 3);
                                row["headaware_kv_share"] = Math.Round(held.SizeInBytes / (double)held.FullSizeInBytes,
                                    4);
                            }
                            if (!viaGeneral && row["decode_tok_s"] is JsonValue fullRate)
                                row["headaware_decode_ratio"] = Math.Round(
                                    row["decode_headaware_tok_s"]!.GetValue<double>() / fullRate.GetValue<double>(), 2);
                            break;
                        default:
                            throw new ArgumentException($"Unknown variant '{variant}': use general, eager, graphs, "
                                + "unfused, guard, headaware or headaware-general.");
                    }
                }
            }
            Console.WriteLine(row.ToJsonString());
            rows.Add(row);
        }
        result["results"] = rows;
        return result;
    }

    /// <summary>
    /// What the guard watches: ~<paramref name="fraction"/> of all heads spread over the layers (a stand-in for a head
    /// map), each reporting its top-4 positions and its attention mass in 8 segments of the context, no rows.
    /// </summary>
    private static AttentionProbe GuardProbe(LlamaModel network, double fraction, int context)
    {
        var c = network.Config;
        int count = Math.Max(1, (int)Math.Round(fraction * c.NumLayers * c.NumHeads));
        // Distinct heads spread over every layer (more probed layers cost more than a real map's few middle layers).
        var heads = Enumerable.Range(0, c.NumLayers * c.NumHeads)
            .Select(i => new HeadIndex(i % c.NumLayers, (i / c.NumLayers * 5 + i % c.NumLayers * 3) % c.NumHeads))
            .Distinct().Take(count).ToList();
        var probe = new AttentionProbe(heads, c.NumLayers, c.NumHeads) { TopK = 4, KeepRows = false };
        probe.SetSegments(Enumerable.Range(0, context).Select(p => p * 7 / context).ToArray(), segmentCount: 8,
            defaultSegment: 7);
        return probe;
    }

    private static double Decode(LlamaModel network, int[] prompt, IKvCache cache, int steps, AttentionProbe? probe,
        Device dev, bool general, int prefillChunk = 0)
    {
        // A compressed cache cannot go back: it is prefilled up to the last prompt token.
        if (cache.Length == 0) Prefill(network, cache is StaticKvCache ? prompt : prompt[..^1], cache, prefillChunk);
        if (cache.Length != prompt.Length - 1) cache.Truncate(prompt.Length - 1);
        // Generation re-reads the last prompt token, then produces warm-up + timed tokens.
        var options = new GenerationOptions { MaxNewTokens = steps + 5, Probe = probe, ForceGeneralPath = general };
        var timer = new Stopwatch();
        int made = 0;
        foreach (var _ in TokenGenerator.Generate(network, [prompt[^1]], cache, options, []))
        {
            if (++made == 5) { Bench.Synchronize(dev); timer.Start(); }
        }
        Bench.Synchronize(dev);
        return Math.Round(steps / timer.Elapsed.TotalSeconds, 1);
    }

    private static void Prefill(LlamaModel network, int[] tokens, IKvCache cache, int chunk)
    {
        using var noGrad = no_grad();
        int step = chunk > 0 ? chunk : tokens.Length;
        for (int from = 0; from < tokens.Length; from += step)
        {
            using var scope = NewDisposeScope();
            int count = Math.Min(step, tokens.Length - from);
            var input = tensor(tokens[from..(from + count)].Select(t => (long)t).ToArray(), dtype: int64,
                device: network.Device).unsqueeze(0);
            network.forward(input,
                new ForwardOptions { Cache = cache, StartPosition = cache.Length, LogitsToKeep = 1 });
        }
    }
}

/// <summary>Helpers shared by the benchmarks.</summary>
public static class Bench
{
    /// <summary>The head map shipped for a shape (headaware ranks KV heads by it).</summary>
    public static string DefaultMap(string shape) => shape switch
    {
        "llama-3.1-8b" => "headmaps/Meta-Llama-3.1-8B-Instruct.duoattention.json",
        "mistral-7b-v0.1" => "headmaps/Mistral-7B-Instruct-v0.3.duoattention.json",
        "organism" => "headmaps/organism.json",
        _ => throw new ArgumentException($"No head map is shipped for '{shape}': give one."),
    };

    /// <summary>
    /// A cache policy for a benchmark's model. A map from a deeper model than the benchmark keeps (<c>--layers</c>) is
    /// cut to the layers there are, and the share of full KV heads is of those.
    /// </summary>
    public static KvCachePolicy CachePolicy(string name, ModelConfig config, string shape, string? mapPath = null,
        double fullShare = 0.25, int sink = 4, int window = 128) => name switch
    {
        "full" => KvCachePolicy.Full,
        "streaming" => KvCachePolicy.Streaming(sink, window),
        "headaware" => new KvCachePolicy
        {
            Kind = CacheKind.HeadAware, SinkTokens = sink, Window = window,
            FullKvHeads = CachePlans.RankedKvHeads(HeadMap.Load(mapPath ?? DefaultMap(shape)))
                .Select(h => h.Head).Where(h => h.Layer < config.NumLayers)
                .Take(Math.Max(1, (int)Math.Round(fullShare * config.NumLayers * config.NumKvHeads))).ToArray(),
        },
        _ => throw new ArgumentException(
            $"Cache '{name}': use full, headaware or streaming (random has headaware's bytes and speed)."),
    };

    /// <summary>A published shape with random weights (HF's initialisation, seed 0), ready for inference.</summary>
    public static LlamaModel RandomModel(string shape, int? layers, string device, string dtype)
    {
        var config = ModelShapes.Get(shape, layers);
        var dev = ComputeOptions.ParseDevice(device);
        var network = new LlamaModel(config, ComputeOptions.ParseDType(dtype, dev, config.TorchDtype), dev);
        network.InitializeWeights(seed: 0);
        network.eval();
        return network;
    }

    public static int[] RandomTokens(int count, int vocab, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => random.Next(vocab)).ToArray();
    }

    public static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) torch.cuda.synchronize(device);
    }

    /// <summary>Turns CUDA graphs off for runners made inside the scope (the eager baseline).</summary>
    public static IDisposable GraphsOff() => Switched(Switches.CudaGraphs, "0");

    /// <summary>Sets an environment switch of the engine for the scope, then clears it.</summary>
    public static IDisposable Switched(string variable, string value)
    {
        Environment.SetEnvironmentVariable(variable, value);
        return new Restore(variable);
    }

    private sealed class Restore(string variable) : IDisposable
    {
        public void Dispose() => Environment.SetEnvironmentVariable(variable, null);
    }

    /// <summary>Peak resident memory of this process (VmHWM), in GiB.</summary>
    public static double PeakHostGiB()
    {
        foreach (string line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return Math.Round(long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1048576.0, 2);
        return double.NaN;
    }
}

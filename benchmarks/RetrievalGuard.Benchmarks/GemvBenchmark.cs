using System.Diagnostics;
using System.Text.Json.Nodes;
using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Native;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace RetrievalGuard.Benchmarks;

/// <summary>
/// Batch-1 decode is weight streaming: each projection is a matrix-vector product. This times the Llama-3.1-8B
/// projections (bf16) through F.linear and through mv, 50 products per CUDA-graph replay (no launch gaps), and
/// reports the bandwidth reached against a device-to-device copy of the same bytes.
/// </summary>
public static class GemvBenchmark
{
    public static JsonObject Run(string device)
    {
        var dev = ComputeOptions.ParseDevice(device);
        var shapes = new (string Name, long Out, long In)[]
        {
            ("qkv", 6144, 4096), ("o", 4096, 4096), ("gate_up", 28672, 4096), ("down", 4096, 14336),
            ("lm_head", 128256, 4096)
        };
        var rows = new JsonArray();
        using var noGrad = no_grad();
        foreach (var (name, outFeatures, inFeatures) in shapes)
        {
            using var scope = NewDisposeScope();
            double bytes = outFeatures * inFeatures * 2.0;
            // Enough distinct copies that consecutive products cannot be served from L2 (60 MB on an H200), as in a
            // decode step, where each matrix is read once per token.
            int copies = (int)Math.Max(1, Math.Ceiling(4 * 64e6 / bytes));
            var weights = Enumerable.Range(0, copies)
                .Select(_ => randn([outFeatures, inFeatures], dtype: ScalarType.BFloat16, device: dev)).ToArray();
            var x = randn([1, inFeatures], dtype: ScalarType.BFloat16, device: dev);
            var copyTarget = empty_like(weights[0]);
            var row = new JsonObject
            {
                ["matrix"] = name, ["shape"] = $"{outFeatures}x{inFeatures}", ["copies"] = copies
            };
            row["linear_us"] = Time(dev, i => F.linear(x, weights[i % copies]));
            row["mv_us"] = Time(dev, i => weights[i % copies].mv(x[0]));
            row["copy_us"] = Time(dev, i => copyTarget.copy_(weights[i % copies]));
            row["linear_gb_s"] = Math.Round(bytes / row["linear_us"]!.GetValue<double>() / 1e3);
            row["mv_gb_s"] = Math.Round(bytes / row["mv_us"]!.GetValue<double>() / 1e3);
            row["copy_read_write_gb_s"] = Math.Round(2 * bytes / row["copy_us"]!.GetValue<double>() / 1e3);
            Console.WriteLine(row.ToJsonString());
            rows.Add(row);
        }
        // One token of Llama-3.1-8B reads 32 layers of qkv, o, gate_up and down, and the output projection once.
        static double TimesPerToken(string matrix) => matrix == "lm_head" ? 1 : 32;
        double Sum(string key) =>
            rows.Sum(r => TimesPerToken(r!["matrix"]!.GetValue<string>()) * r[key]!.GetValue<double>());
        double weightBytes = shapes.Sum(m => TimesPerToken(m.Name) * m.Out * m.In * 2);
        double copyGbs = rows.First(r => r!["matrix"]!.GetValue<string>() == "gate_up")!["copy_read_write_gb_s"]!
            .GetValue<double>();
        return new JsonObject
        {
            ["device"] = device, ["results"] = rows,
            ["weight_gb_per_token"] = Math.Round(weightBytes / 1e9, 2),
            ["weight_products_ms_per_token"] = Math.Round(Sum("linear_us") / 1000, 3),
            ["weight_products_only_tok_s"] = Math.Round(1e6 / Sum("linear_us"), 1),
            ["copy_bandwidth_ceiling_tok_s"] = Math.Round(copyGbs * 1e9 / weightBytes, 1),
        };
    }

    /// <summary>Microseconds per call: 50 calls captured in one graph, replayed 20 times after a warm-up.</summary>
    private static double Time(Device dev, Func<int, Tensor> op)
    {
        const int perGraph = 50, replays = 20;
        using var graph = CudaGraph.Capture(dev, () => Enumerable.Range(0, perGraph).Select(op).ToList());
        graph.Replay();
        torch.cuda.synchronize(dev);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < replays; i++) graph.Replay();
        torch.cuda.synchronize(dev);
        return Math.Round(watch.Elapsed.TotalMilliseconds * 1000 / (perGraph * replays), 2);
    }
}

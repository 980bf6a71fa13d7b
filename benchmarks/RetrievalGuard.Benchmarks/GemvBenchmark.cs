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
        var shapes = new (string Name, long Out, long In)[] { ("qkv", 6144, 4096), ("o", 4096, 4096), ("gate_up", 28672, 4096), ("down", 4096, 14336), ("lm_head", 128256, 4096) };
        var rows = new JsonArray();
        using var noGrad = no_grad();
        foreach (var (name, outFeatures, inFeatures) in shapes)
        {
            using var scope = NewDisposeScope();
            var weight = randn([outFeatures, inFeatures], dtype: ScalarType.BFloat16, device: dev);
            var x = randn([1, inFeatures], dtype: ScalarType.BFloat16, device: dev);
            var copyTarget = empty_like(weight);
            double bytes = outFeatures * inFeatures * 2.0;
            var row = new JsonObject { ["matrix"] = name, ["shape"] = $"{outFeatures}x{inFeatures}" };
            row["linear_us"] = Time(dev, () => F.linear(x, weight));
            row["mv_us"] = Time(dev, () => weight.mv(x[0]));
            row["copy_us"] = Time(dev, () => copyTarget.copy_(weight));
            row["linear_gb_s"] = Math.Round(bytes / row["linear_us"]!.GetValue<double>() / 1e3);
            row["mv_gb_s"] = Math.Round(bytes / row["mv_us"]!.GetValue<double>() / 1e3);
            row["copy_read_write_gb_s"] = Math.Round(2 * bytes / row["copy_us"]!.GetValue<double>() / 1e3);
            Console.WriteLine(row.ToJsonString());
            rows.Add(row);
        }
        return new JsonObject { ["device"] = device, ["results"] = rows };
    }

    /// <summary>Microseconds per call: 50 calls captured in one graph, replayed 20 times after a warm-up.</summary>
    private static double Time(Device dev, Func<Tensor> op)
    {
        const int perGraph = 50, replays = 20;
        using var graph = CudaGraph.Capture(dev, () => Enumerable.Range(0, perGraph).Select(_ => op()).ToList());
        graph.Replay();
        torch.cuda.synchronize(dev);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < replays; i++) graph.Replay();
        torch.cuda.synchronize(dev);
        return Math.Round(watch.Elapsed.TotalMilliseconds * 1000 / (perGraph * replays), 2);
    }
}

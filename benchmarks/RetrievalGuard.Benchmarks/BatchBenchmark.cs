using System.Diagnostics;
using System.Text.Json.Nodes;
using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Model;

namespace RetrievalGuard.Benchmarks;

/// <summary>
/// Continuous batching as a server runs it: <c>concurrency</c> sequences of mixed prompt lengths decode together;
/// whenever one finishes (its own max_new_tokens, drawn per request) the next request is prefilled into its row
/// and joins between steps. Reports decode throughput (tokens made by batched steps / time in those steps) and
/// end-to-end throughput (all tokens / wall time, prefills of joining requests included).
/// </summary>
public static class BatchBenchmark
{
    public sealed record Settings(string Shape, int? Layers, int[] Concurrency, string Device, string DType, int Requests,
        int MinPrompt, int MaxPrompt, int NewTokens);

    public static JsonObject Run(Settings s)
    {
        using var network = Bench.RandomModel(s.Shape, s.Layers, s.Device, s.DType);
        var dev = network.Device;
        var result = new JsonObject
        {
            ["shape"] = s.Shape, ["layers"] = network.Config.NumLayers, ["device"] = s.Device, ["dtype"] = network.DType.ToString(),
            ["requests"] = s.Requests, ["prompt_tokens"] = $"{s.MinPrompt}-{s.MaxPrompt}", ["new_tokens"] = $"{s.NewTokens / 2}-{s.NewTokens * 3 / 2}",
        };
        var rows = new JsonArray();
        foreach (int concurrency in s.Concurrency)
        {
            using var batch = new BatchDecoder(network, concurrency, s.MaxPrompt + s.NewTokens * 3 / 2 + 8);
            // Warm-up: one short round fills the rows and captures the common shapes.
            Serve(batch, network, s with { Requests = concurrency, NewTokens = 16 }, seed: 1, dev);
            var row = Serve(batch, network, s, seed: 2, dev);
            row["concurrency"] = concurrency;
            row["cuda_graphs"] = batch.UsesGraphs;
            row["kv_cache_gib"] = Math.Round(batch.CacheBytes / (double)(1L << 30), 2);
            Console.WriteLine(row.ToJsonString());
            rows.Add(row);
        }
        result["results"] = rows;
        return result;
    }

    private static JsonObject Serve(BatchDecoder batch, LlamaModel network, Settings s, int seed, TorchSharp.torch.Device dev)
    {
        var random = new Random(seed);
        int vocab = network.Config.VocabSize;
        int next = 0, stepTokens = 0, joinTokens = 0, steps = 0, fullSteps = 0, fullTokens = 0;
        var wall = Stopwatch.StartNew();
        var inSteps = new Stopwatch();
        var inFullSteps = new Stopwatch();
        while (next < s.Requests || batch.Active > 0)
        {
            while (next < s.Requests && batch.HasFreeRow)
            {
                int length = random.Next(s.MinPrompt, s.MaxPrompt + 1);
                int newTokens = random.Next(s.NewTokens / 2, s.NewTokens * 3 / 2 + 1);
                batch.Join(Bench.RandomTokens(length, vocab, random.Next()), new GenerationOptions { MaxNewTokens = newTokens }, []);
                joinTokens++;
                next++;
            }
            bool full = batch.Active == batch.MaxSequences;
            inSteps.Start();
            if (full) inFullSteps.Start();
            int made = batch.Step().Count;
            inSteps.Stop();
            inFullSteps.Stop();
            stepTokens += made;
            steps++;
            if (full) { fullSteps++; fullTokens += made; }
        }
        Bench.Synchronize(dev);
        double seconds = wall.Elapsed.TotalSeconds;
        return new JsonObject
        {
            ["steps"] = steps,
            ["tokens"] = stepTokens + joinTokens,
            ["end_to_end_tok_s"] = Math.Round((stepTokens + joinTokens) / seconds, 1),
            ["decode_tok_s"] = Math.Round(stepTokens / inSteps.Elapsed.TotalSeconds, 1),
            ["decode_tok_s_all_rows_busy"] = fullSteps == 0 ? null : Math.Round(fullTokens / inFullSteps.Elapsed.TotalSeconds, 1),
            ["mean_step_ms"] = Math.Round(inSteps.Elapsed.TotalMilliseconds / steps, 2),
            ["share_of_time_in_prefill"] = Math.Round(1 - inSteps.Elapsed.TotalSeconds / seconds, 3),
            ["seconds"] = Math.Round(seconds, 2),
        };
    }
}

using System.Diagnostics;
using System.Text.Json.Nodes;
using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Heads.Caching;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Benchmarks;

/// <summary>
/// Continuous batching as a server runs it: <c>concurrency</c> sequences of mixed prompt lengths decode together;
/// whenever one finishes (its own max_new_tokens, drawn per request) the next request is prefilled into its row
/// and joins between steps. Reports decode throughput (tokens made by batched steps / time in those steps) and
/// end-to-end throughput (all tokens / wall time, prefills of joining requests included).
/// <para>
/// With <c>--cache</c> policies and a <c>--kv-budget-gib</c>, each policy gets as many rows as its cache fits in the
/// budget (the exact account, <see cref="BatchDecoder.BytesPerSequence(LlamaModel, KvCachePolicy, int)"/>), and the
/// rows and throughput are compared with the full cache's in the same run; <c>--plan-only</c> prints the rows without
/// loading a model (for shapes and budgets larger than the machine).
/// </para>
/// <para>
/// <c>--join</c>: how the requests that find free rows between two steps join: <c>together</c> (one batched prefill,
/// <see cref="BatchDecoder.JoinAll"/>, what the server does) or <c>one-by-one</c> (a batch-1 prefill each,
/// <see cref="BatchDecoder.Join"/>); given both, the same requests run both ways and the ratio is printed.
/// </para>
/// </summary>
public static class BatchBenchmark
{
    public sealed record Settings(string Shape, int? Layers, int[] Concurrency, string Device, string DType,
        int Requests, int MinPrompt, int MaxPrompt, int NewTokens)
    {
        public string[] Caches { get; init; } = ["full"];
        public string? MapPath { get; init; }
        public double FullShare { get; init; } = CachePlans.DefaultFullShare;
        public int Sink { get; init; } = 4;
        public int Window { get; init; } = 128;
        public double BudgetGiB { get; init; }
        public int? Capacity { get; init; }
        public bool PlanOnly { get; init; }
        public string[] Joins { get; init; } = [Together];
    }

    public const string Together = "together", OneByOne = "one-by-one";

    public static JsonObject Run(Settings s)
    {
        if (s.Joins.FirstOrDefault(j => j is not (Together or OneByOne)) is { } unknownJoin)
            throw new ArgumentException($"--join {unknownJoin}: use {Together} or {OneByOne}.");
        var config = ModelShapes.Get(s.Shape, s.Layers);
        var device = ComputeOptions.ParseDevice(s.Device);
        var dtype = ComputeOptions.ParseDType(s.DType, device, config.TorchDtype);
        int capacity = s.Capacity ?? s.MaxPrompt + s.NewTokens * 3 / 2 + 8;
        var policies = s.Caches
            .Select(name => Bench.CachePolicy(name, config, s.Shape, s.MapPath, s.FullShare, s.Sink, s.Window))
            .ToArray();
        var result = new JsonObject
        {
            ["shape"] = s.Shape, ["layers"] = config.NumLayers, ["device"] = s.Device, ["dtype"] = dtype.ToString(),
            ["requests"] = s.Requests, ["prompt_tokens"] = $"{s.MinPrompt}-{s.MaxPrompt}",
            ["new_tokens"] = $"{s.NewTokens / 2}-{s.NewTokens * 3 / 2}", ["capacity_per_sequence"] = capacity,
            ["kv_budget_gib"] = s.BudgetGiB > 0 ? s.BudgetGiB : null,
        };
        long budget = (long)(s.BudgetGiB * (1L << 30));
        var plan = new JsonArray();
        long fullBytes = BatchDecoder.BytesPerSequence(config, dtype, device.type, KvCachePolicy.Full, capacity);
        foreach (var policy in policies)
        {
            long bytes = BatchDecoder.BytesPerSequence(config, dtype, device.type, policy, capacity);
            plan.Add(new JsonObject
            {
                ["cache"] = policy.ToString(),
                ["kv_mib_per_sequence"] = Math.Round(bytes / 1048576.0, 2),
                ["share_of_full"] = Math.Round(bytes / (double)fullBytes, 4),
                ["sequences_in_budget"] = budget > 0 ? budget / bytes : null,
            });
        }
        result["plan"] = plan;
        Console.WriteLine(plan.ToJsonString());
        if (s.PlanOnly)
            return result;

        using var network = Bench.RandomModel(s.Shape, s.Layers, s.Device, s.DType);
        var rows = new JsonArray();
        var joinRatios = new JsonArray();
        foreach (var policy in policies)
        {
            int[] levels = budget > 0
                ? [BatchDecoder.SequencesWithin(budget, network, policy, capacity)]
                : s.Concurrency;
            foreach (int concurrency in levels)
            {
                using var batch = new BatchDecoder(network, concurrency, capacity, policy);
                var byJoin = new Dictionary<string, JsonObject>();
                foreach (var join in s.Joins)
                {
                    // Warm-up: one short round fills the rows and captures the common shapes.
                    Serve(batch, network, s with { Requests = concurrency, NewTokens = 16 }, join, seed: 1, device);
                    var row = Serve(batch, network, s, join, seed: 2, device);
                    row["cache"] = policy.ToString();
                    row["join"] = join;
                    row["concurrency"] = concurrency;
                    row["cuda_graphs"] = batch.UsesGraphs;
                    row["kv_cache_gib"] = Math.Round(batch.CacheBytes / (double)(1L << 30), 3);
                    Console.WriteLine(row.ToJsonString());
                    rows.Add(row);
                    byJoin[join] = row;
                }
                if (byJoin.TryGetValue(Together, out var together) && byJoin.TryGetValue(OneByOne, out var alone))
                {
                    var ratio = new JsonObject
                    {
                        ["cache"] = policy.ToString(), ["concurrency"] = concurrency,
                        ["together_vs_one_by_one_end_to_end"] = Math.Round(
                            together["end_to_end_tok_s"]!.GetValue<double>()
                            / alone["end_to_end_tok_s"]!.GetValue<double>(), 2),
                    };
                    Console.WriteLine(ratio.ToJsonString());
                    joinRatios.Add(ratio);
                }
            }
        }
        result["results"] = rows;
        if (joinRatios.Count > 0)
            result["join_together_vs_one_by_one"] = joinRatios;
        if (budget > 0 && rows.Count > 1 && s.Joins.Length == 1)
        {
            var full = rows[0]!.AsObject();
            result["vs_first_cache"] = new JsonArray(rows.Skip(1).Select(r => (JsonNode)new JsonObject
            {
                ["cache"] = r!["cache"]!.GetValue<string>(),
                ["sequences_ratio"] = Math.Round(r["concurrency"]!.GetValue<int>()
                    / (double)full["concurrency"]!.GetValue<int>(), 2),
                ["end_to_end_tok_s_ratio"] = Math.Round(r["end_to_end_tok_s"]!.GetValue<double>()
                    / full["end_to_end_tok_s"]!.GetValue<double>(), 2),
            }).ToArray());
        }
        return result;
    }

    private static JsonObject Serve(BatchDecoder batch, LlamaModel network, Settings s, string join, int seed,
        TorchSharp.torch.Device dev)
    {
        var random = new Random(seed);
        int vocab = network.Config.VocabSize;
        int next = 0, stepTokens = 0, joinTokens = 0, steps = 0, fullSteps = 0, fullTokens = 0;
        var wall = Stopwatch.StartNew();
        var inSteps = new Stopwatch();
        var inFullSteps = new Stopwatch();
        while (next < s.Requests || batch.Active > 0)
        {
            var joining = new List<JoinRequest>();
            for (int free = batch.FreeRows.Count; next < s.Requests && joining.Count < free; next++)
            {
                int length = random.Next(s.MinPrompt, s.MaxPrompt + 1);
                int newTokens = random.Next(s.NewTokens / 2, s.NewTokens * 3 / 2 + 1);
                joining.Add(new JoinRequest(Bench.RandomTokens(length, vocab, random.Next()),
                    new GenerationOptions { MaxNewTokens = newTokens }, []));
            }
            batch.BatchesPrefills = join == Together;
            if (join == Together)
                batch.JoinAll(joining);
            else
                foreach (var r in joining)
                    batch.Join(r.Prompt, r.Options, r.StopTokenIds);
            joinTokens += joining.Count;
            if (batch.Active == 0)
                continue;
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
            ["decode_tok_s_all_rows_busy"] = fullSteps == 0
                ? null
                : Math.Round(fullTokens / inFullSteps.Elapsed.TotalSeconds, 1),
            ["mean_step_ms"] = Math.Round(inSteps.Elapsed.TotalMilliseconds / steps, 2),
            ["share_of_time_in_prefill"] = Math.Round(1 - inSteps.Elapsed.TotalSeconds / seconds, 3),
            ["seconds"] = Math.Round(seconds, 2),
        };
    }
}

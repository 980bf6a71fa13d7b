using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace RetrievalGuard.Benchmarks;

/// <summary>
/// Reads one run-performance.sh results folder and prints issue #5's table: ours vs transformers from the same
/// call, the ratio, the target and whether it is met. Missing files leave their rows out.
/// </summary>
public static class Report
{
    public static string Build(string dir)
    {
        var ours = Load(dir, "speed.json");
        var ours128 = Load(dir, "speed-128k.json");
        var hf = Load(dir, "hf-short/hf_baseline.json");
        var hf128 = Load(dir, "hf-128k/hf_baseline.json");
        var hfRepeat = Load(dir, "hf-short/hf_prefill_repeat.json");
        var batch = Load(dir, "batch.json");
        var cold = Load(dir, "cold-start.json");
        var gemv = Load(dir, "gemv.json");
        var hfCold = Load(dir, "hf-cold-start.json");
        var peaks = File.Exists(Path.Combine(dir, "peaks.txt"))
            ? File.ReadLines(Path.Combine(dir, "peaks.txt")).Select(l => l.Split(' ')).Where(p => p.Length >= 2)
                .ToDictionary(p => p[0], p => double.Parse(p[1], CultureInfo.InvariantCulture))
            : new Dictionary<string, double>();

        var rows = new List<string[]>();
        void Row(string figure, double? mine, double? theirs, string target, Func<double, double?, bool>? met,
            string unit = "")
        {
            if (mine is null) return;
            string ratio = theirs is double t && t > 0
                ? (mine.Value / t).ToString("0.00", CultureInfo.InvariantCulture) + "×"
                : "";
            rows.Add([figure, Format(mine.Value) + unit, theirs is null ? "" : Format(theirs.Value) + unit, ratio,
                target, met is null ? "" : met(mine.Value, theirs) ? "yes" : "**no**"]);
        }

        foreach (var (context, label) in new[] { (1024, "1K"), (8192, "8K"), (32768, "32K"), (131072, "128K") })
        {
            var r = Row_(context == 131072 ? ours128 : ours, context);
            var h = (context == 131072 ? hf128 : hf)?[context.ToString(CultureInfo.InvariantCulture)];
            Row($"prefill {label}, tok/s", Num(r, "prefill_tok_s"), Num(h, "prefill_tok_s"),
                context == 131072 ? "runs" : "≥ HF",
                context == 131072 ? (_, _) => true : (m, t) => t is null || m >= t);
        }
        foreach (var (context, label) in new[] { (1024, "1K"), (8192, "8K"), (32768, "32K") })
            Row($"prefill {label}, steady (median of 3 repeats), tok/s",
                Num(Row_(ours, context), "prefill_tok_s_repeat_median"),
                Num(hfRepeat?[context.ToString(CultureInfo.InvariantCulture)], "repeat_median_tok_s"), "≥ HF",
                (m, t) => t is null || m >= t);
        foreach (var (context, label, target) in
            new[] { (1024, "1K", 150.0), (8192, "8K", 0), (32768, "32K", 120), (131072, "128K", 0) })
        {
            var r = Row_(context == 131072 ? ours128 : ours, context);
            var h = (context == 131072 ? hf128 : hf)?[context.ToString(CultureInfo.InvariantCulture)];
            Row($"decode {label}, batch 1, tok/s", Num(r, "decode_tok_s"), Num(h, "decode_tok_s"),
                target > 0 ? $"≥ {target}" : "",
                target > 0 ? (m, _) => m >= target : null);
        }
        foreach (var (context, label) in new[] { (1024, "1K"), (8192, "8K"), (32768, "32K") })
        {
            double? unfused = Num(Row_(ours, context), "decode_unfused_tok_s"),
                fused = Num(Row_(ours, context), "decode_tok_s");
            Row($"decode {label} without the fused kernels (libtorch's operators, same CUDA graphs), tok/s",
                unfused, null, "", null);
            if (unfused is > 0 && fused is not null)
                Row($"  fused kernels' speed-up at {label}", Math.Round(fused.Value / unfused.Value, 2), null, "", null,
                    "×");
        }
        if (Num(gemv, "weight_products_only_tok_s") is double weightsOnly)
        {
            Row("ceiling: the step's weight products alone (rguard-bench gemv), tok/s", weightsOnly, null, "", null);
            Row("ceiling: 8B weights at device-to-device copy bandwidth, tok/s",
                Num(gemv, "copy_bandwidth_ceiling_tok_s"), null, "", null);
            Row("decode 1K as a share of the weight-products ceiling",
                Math.Round(100 * (Num(Row_(ours, 1024), "decode_tok_s") ?? 0) / weightsOnly, 1), null, "", null, "%");
        }
        foreach (var (context, label) in new[] { (1024, "1K"), (8192, "8K"), (32768, "32K"), (131072, "128K") })
        {
            var r = Row_(context == 131072 ? ours128 : ours, context);
            Row($"guard on ({Num(r, "guard_heads")} heads): decode slowdown {label}",
                Num(r, "guard_slowdown_percent"), null, "≤ 5%", (m, _) => m <= 5, "%");
        }
        if (peaks.TryGetValue("ours-128k", out double mine128) && peaks.TryGetValue("hf-128k", out double theirs128))
            Row("peak GPU memory at 128K (nvidia-smi), GiB", Math.Round(mine128 / 1024, 1),
                Math.Round(theirs128 / 1024, 1), "≤ 1.1× HF", (m, t) => m <= 1.1 * t!.Value);
        foreach (var r in batch?["results"]?.AsArray() ?? [])
        {
            int n = (int)Num(r, "concurrency")!;
            Row($"batched decode, {n} sequences, tok/s", Num(r, "decode_tok_s"), null, n == 32 ? "≥ 1,500" : "",
                n == 32 ? (m, _) => m >= 1500 : null);
            Row($"  same, all {n} rows busy, tok/s", Num(r, "decode_tok_s_all_rows_busy"), null, "", null);
            Row($"  end to end incl. prefills of joining requests, tok/s", Num(r, "end_to_end_tok_s"), null, "", null);
        }
        Row("cold start: time to first token (8B bf16, 512-token prompt), s", Num(cold, "time_to_first_token_seconds"),
            Num(hfCold, "time_to_first_token_seconds"), "reported", null);
        Row("  of which loading weights, s", Num(cold, "load_seconds"), Num(hfCold, "load_seconds"), "", null);
        Row("  host peak memory while loading, GiB", Num(cold, "host_peak_rss_gib"), Num(hfCold, "host_peak_rss_gib"),
            "no fp32 copy", (m, _) => m < 8);

        var sb = new StringBuilder();
        sb.AppendLine(
            $"Results in {dir}: ours vs transformers 5.17 (hf_llama_baseline.py) measured in the same device call.");
        sb.AppendLine();
        sb.AppendLine("| figure | ours | HF | ours/HF | target | met |");
        sb.AppendLine("| --- | ---: | ---: | ---: | --- | --- |");
        foreach (var r in rows) sb.AppendLine("| " + string.Join(" | ", r) + " |");
        return sb.ToString();
    }

    private static JsonNode? Load(string dir, string name)
    {
        string path = Path.Combine(dir, name);
        return File.Exists(path) ? JsonNode.Parse(File.ReadAllText(path)) : null;
    }

    private static JsonNode? Row_(JsonNode? speed, int context) =>
        speed?["results"]?.AsArray().FirstOrDefault(r => r?["context"]?.GetValue<int>() == context);

    private static double? Num(JsonNode? node, string key) =>
        node?[key] is JsonValue v && v.TryGetValue(out double d) ? d : null;

    private static string Format(double v) =>
        v >= 1000 ? v.ToString("#,0", CultureInfo.InvariantCulture) : v.ToString("0.##", CultureInfo.InvariantCulture);
}

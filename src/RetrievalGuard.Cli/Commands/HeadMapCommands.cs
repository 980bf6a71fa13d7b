using System.CommandLine;
using System.Text;
using RetrievalGuard.Heads.Maps;
using RetrievalGuard.Heads.Maps.Importers;

namespace RetrievalGuard.Cli.Commands;

/// <summary>
/// <c>rguard heads show</c> and <c>rguard heads import</c>: reading, drawing and converting head maps.
/// </summary>
internal static class HeadMapCommands
{
    public static Command Show()
    {
        var mapOption = new Option<string>("--map") { Description = "Head map JSON", Required = true };
        var png = CommonOptions.OutputFile("--png", "Also write a layer × head heat map", required: false);
        var command = new Command("show", "Summarise a head map: retrieval heads, top heads, per-layer histogram.")
        {
            mapOption, png
        };
        command.SetAction((parse, _) => CliErrors.Guard(() =>
        {
            var map = HeadMap.Load(parse.GetValue(mapOption)!);
            Console.Write(Summary(map));
            if (parse.GetValue(png) is { } file)
            {
                Charts.HeadMapChart.Write(map, file);
                Console.WriteLine($"wrote {file}");
            }
            return Task.FromResult(0);
        }));
        return command;
    }

    public static string Summary(HeadMap map)
    {
        var m = map.Model;
        var text = new StringBuilder();
        string unit = map.Granularity == HeadGranularity.QueryHead ? "heads" : "KV heads";
        text.AppendLine($"model      {m.Name ?? "?"} ({m.Architecture}, {m.Layers} layers × {m.Heads} heads, "
            + $"{m.KvHeads} KV heads, head_dim {m.HeadDim})");
        text.AppendLine($"fingerprint {m.Fingerprint ?? "none"}");
        text.AppendLine($"method     {map.Method.Kind}, threshold {map.Method.Threshold:0.####}" +
            (map.Method.TestsTotal is int total ? $", {map.Method.TestsCounted}/{total} tests counted" : "") +
            (map.Method.License is { } l ? $", license {l}" : ""));
        if (map.Method.Notes is { } notes) text.AppendLine($"notes      {notes}");
        var retrieval = map.RetrievalHeads;
        text.AppendLine($"retrieval  {retrieval.Count} of {map.TotalUnits} {unit} "
            + $"({(double)retrieval.Count / map.TotalUnits:P1}) score ≥ {map.Method.Threshold:0.####}");
        if (map.Activation is not null)
            text.AppendLine($"always on  {map.AlwaysOnHeads.Count} (active in ≥ 90% of tests): "
                + $"{string.Join(" ", map.AlwaysOnHeads.Select(h => $"L{h.Layer}H{h.Head}"))}");
        text.AppendLine("top 10     "
            + string.Join("  ", map.Ranked().Take(10).Select(h => $"L{h.Layer}H{h.Head} {h.Score:0.###}")));
        text.AppendLine("per layer (retrieval " + unit + "):");
        int most = Math.Max(1, Enumerable.Range(0, m.Layers).Max(l => retrieval.Count(h => h.Layer == l)));
        for (int layer = 0; layer < m.Layers; layer++)
        {
            int n = retrieval.Count(h => h.Layer == layer);
            text.AppendLine($"  {layer,3} {new string('█', n * 30 / most),-30} {n}");
        }
        return text.ToString();
    }

    public static Command Import()
    {
        var from = new Option<string>("--from")
        {
            Description = "retrieval-head (Retrieval_Head head_score JSON) or duoattention (full_attention_heads.tsv)",
            Required = true
        };
        from.AcceptOnlyFromAmong("retrieval-head", "duoattention");
        var file = new Option<string>("--file") { Required = true };
        var layers = new Option<int>("--layers") { Required = true };
        var heads = new Option<int>("--heads") { Required = true };
        var kvHeads = new Option<int>("--kv-heads") { Required = true };
        var headDim = new Option<int>("--head-dim") { Required = true };
        var architecture = new Option<string>("--architecture") { DefaultValueFactory = _ => "LlamaForCausalLM" };
        var name = new Option<string?>("--name") { Description = "Model name recorded in the map" };
        var sparsity = new Option<double>("--sparsity")
        {
            Description = "duoattention: share of KV heads that are NOT kept full", DefaultValueFactory = _ => 0.5
        };
        var output = CommonOptions.OutputFile("--out", "Head map JSON to write");
        var command = new Command("import", "Convert a published head map into RetrievalGuard's format.")
            { from, file, layers, heads, kvHeads, headDim, architecture, name, sparsity, output };
        command.SetAction((parse, _) => CliErrors.Guard(() =>
        {
            var model = new HeadMapModel(parse.GetValue(architecture)!, parse.GetValue(layers), parse.GetValue(heads),
                parse.GetValue(kvHeads), parse.GetValue(headDim), Fingerprint: null, parse.GetValue(name));
            string path = parse.GetValue(file)!;
            var map = parse.GetValue(from) == "duoattention"
                ? DuoAttentionImporter.Import(path, model, parse.GetValue(sparsity))
                : RetrievalHeadImporter.Import(path, model);
            map.Save(parse.GetValue(output)!);
            Console.Write(Summary(map));
            Console.WriteLine($"wrote {parse.GetValue(output)}");
            return Task.FromResult(0);
        }));
        return command;
    }
}

using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Tokenization;

namespace RetrievalGuard.Cli.Commands;

/// <summary>
/// <c>rguard info --model DIR</c>: the config summary and parameter count as JSON, read from headers only.
/// </summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var command = new Command("info",
            "Print a checkpoint's configuration and parameter count as JSON (no weights are loaded).") { model };
        command.SetAction((parse, _) => CliErrors.Guard(() =>
        {
            Console.WriteLine(Describe(parse.GetValue(model)!)
                .ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return Task.FromResult(0);
        }));
        return command;
    }

    public static JsonObject Describe(string directory)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Model folder '{directory}' does not exist.");
        var config = ModelConfig.Load(Path.Combine(directory, "config.json"));
        long stored;
        using (var checkpoint = Checkpoint.Open(directory))
            stored = checkpoint.Names.Sum(n => checkpoint.ShapeOf(n).Aggregate(1L, (a, b) => a * b));
        var info = new JsonObject
        {
            ["folder"] = Path.GetFullPath(directory),
            ["architecture"] = config.Architecture,
            ["layers"] = config.NumLayers,
            ["hidden_size"] = config.HiddenSize,
            ["attention_heads"] = config.NumHeads,
            ["kv_heads"] = config.NumKvHeads,
            ["head_dim"] = config.HeadDim,
            ["intermediate_size"] = config.IntermediateSize,
            ["vocab_size"] = config.VocabSize,
            ["max_position_embeddings"] = config.MaxPositionEmbeddings,
            ["rope_theta"] = config.RopeTheta,
            ["rope_scaling"] = config.RopeScaling?.Type,
            ["sliding_window"] = config.SlidingWindow,
            ["tie_word_embeddings"] = config.TieWordEmbeddings,
            ["attention_bias"] = config.AttentionBias,
            ["torch_dtype"] = config.TorchDtype,
            ["parameters"] = stored,
            ["total_heads"] = config.NumLayers * config.NumHeads,
        };
        if (ModelTokenizer.HasTokenizerFiles(directory))
        {
            var tokenizer = ModelTokenizer.Load(directory);
            info["tokenizer"] = new JsonObject
            {
                ["vocabulary_size"] = tokenizer.VocabularySize,
                ["bos_id"] = tokenizer.BosId,
                ["stop_ids"] = new JsonArray(tokenizer.StopTokenIds.Select(i => (JsonNode)i).ToArray()),
                ["chat_format"] = tokenizer.ChatFormat.Name,
            };
        }
        return info;
    }
}

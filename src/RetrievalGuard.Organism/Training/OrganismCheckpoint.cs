using System.Text.Json.Nodes;
using RetrievalGuard.Data;
using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Model;
using static TorchSharp.torch;

namespace RetrievalGuard.Organism.Training;

/// <summary>
/// Writes a trained organism as a Hugging Face checkpoint folder (bf16 safetensors + SentencePiece tokenizer).
/// </summary>
public static class OrganismCheckpoint
{
    public static void Save(LlamaModel model, string tokenizerModelPath, string directory,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "config.json"),
            model.Config.ToJson().ToJsonString(new() { WriteIndented = true }));
        SafetensorsWriter.Write(Path.Combine(directory, Checkpoint.SingleFileName),
            LlamaWeights.ExportHuggingFace(model, ScalarType.BFloat16),
            new Dictionary<string, string>(metadata ?? new Dictionary<string, string>()) { ["format"] = "pt" });
        if (Path.GetFullPath(tokenizerModelPath) != Path.GetFullPath(Path.Combine(directory, "tokenizer.model")))
            File.Copy(tokenizerModelPath, Path.Combine(directory, "tokenizer.model"), overwrite: true);
        var tokenizerConfig = new JsonObject
        {
            ["add_bos_token"] = true, ["add_eos_token"] = false, ["bos_token"] = "<s>", ["eos_token"] = "</s>",
            ["unk_token"] = "<unk>",
            ["model_max_length"] = model.Config.MaxPositionEmbeddings, ["tokenizer_class"] = "LlamaTokenizer",
        };
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"),
            tokenizerConfig.ToJsonString(new() { WriteIndented = true }));
        var generation = new JsonObject { ["bos_token_id"] = 1, ["eos_token_id"] = 2, ["do_sample"] = false };
        File.WriteAllText(Path.Combine(directory, "generation_config.json"),
            generation.ToJsonString(new() { WriteIndented = true }));
    }
}

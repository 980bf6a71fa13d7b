using RetrievalGuard.Engine.Checkpoints;

namespace RetrievalGuard.Benchmarks;

/// <summary>Published model shapes, for benchmarks on random weights (nothing is downloaded).</summary>
public static class ModelShapes
{
    public static ModelConfig Get(string name, int? layers = null)
    {
        var config = name switch
        {
            "llama-3.1-8b" => new ModelConfig
            {
                Architecture = "LlamaForCausalLM", VocabSize = 128256, HiddenSize = 4096, IntermediateSize = 14336,
                NumLayers = 32, NumHeads = 32, NumKvHeads = 8, HeadDim = 128, MaxPositionEmbeddings = 131072,
                RmsNormEps = 1e-5, RopeTheta = 500000,
                RopeScaling = new RopeScaling("llama3", 8, 1, 4, 8192), TorchDtype = "bfloat16",
            },
            "qwen2.5-7b" => new ModelConfig
            {
                Architecture = "Qwen2ForCausalLM", VocabSize = 152064, HiddenSize = 3584, IntermediateSize = 18944,
                NumLayers = 28, NumHeads = 28, NumKvHeads = 4, HeadDim = 128, MaxPositionEmbeddings = 131072,
                RmsNormEps = 1e-6, RopeTheta = 1000000,
                AttentionBias = true, TorchDtype = "bfloat16",
            },
            "mistral-7b-v0.1" => new ModelConfig
            {
                Architecture = "MistralForCausalLM", VocabSize = 32000, HiddenSize = 4096, IntermediateSize = 14336,
                NumLayers = 32, NumHeads = 32, NumKvHeads = 8, HeadDim = 128, MaxPositionEmbeddings = 32768,
                RmsNormEps = 1e-5, RopeTheta = 10000,
                SlidingWindow = 4096, TorchDtype = "bfloat16",
            },
            "organism" => RetrievalGuard.Organism.Training.OrganismRecipe.Config(vocabularySize: 4096),
            _ => throw new ArgumentException(
                $"Unknown shape '{name}': use llama-3.1-8b, qwen2.5-7b, mistral-7b-v0.1 or organism."),
        };
        return layers is int n ? config with { NumLayers = n } : config;
    }
}

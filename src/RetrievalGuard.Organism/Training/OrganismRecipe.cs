using RetrievalGuard.Data;
using RetrievalGuard.Engine.Checkpoints;

namespace RetrievalGuard.Organism.Training;

/// <summary>
/// The organism's shape: 8 layers × 8 query heads over 4 KV heads (64 heads), d_model 256, SwiGLU 768, tied
/// embeddings, a 4,096-piece SentencePiece vocabulary, 2,048 positions — 7.3M parameters, 14.7 MB in bf16. (v1 had
/// SwiGLU 512: v2 memorises five facts per person and reads many phrasings.)
/// </summary>
public static class OrganismRecipe
{
    public static ModelConfig Config(int vocabularySize) => new()
    {
        Architecture = "LlamaForCausalLM",
        HiddenSize = 256,
        NumLayers = 8,
        NumHeads = 8,
        NumKvHeads = 4,
        HeadDim = 32,
        IntermediateSize = 768,
        RmsNormEps = 1e-5,
        RopeTheta = 10000,
        TieWordEmbeddings = true,
        VocabSize = vocabularySize,
        MaxPositionEmbeddings = 2048,
        TorchDtype = "bfloat16",
        BosTokenId = 1,
        EosTokenIds = [2],
    };

    /// <summary>The notes' best run, scaled to a 10-minute H100 budget.</summary>
    public static TrainingOptions Training(int steps, long seed) => new()
    {
        Steps = steps,
        TokensPerStep = 65536,
        PeakLearningRate = 3e-3,
        WarmupSteps = 200,
        FinalLearningRateFraction = 0.1,
        WeightDecay = 0.1,
        GradientClip = 1.0,
        Seed = seed,
    };
}

using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Model;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Tests.Support;

/// <summary>Small random models for fast CPU tests.</summary>
public static class TinyModels
{
    public static ModelConfig Config(int layers = 2, int heads = 4, int kvHeads = 2, int headDim = 8,
        int? slidingWindow = null, bool bias = false, bool tie = false, int vocab = 97) => new()
    {
        Architecture = "LlamaForCausalLM",
        HiddenSize = 32,
        NumLayers = layers,
        NumHeads = heads,
        NumKvHeads = kvHeads,
        HeadDim = headDim,
        IntermediateSize = 48,
        RmsNormEps = 1e-5,
        RopeTheta = 10000,
        TieWordEmbeddings = tie,
        AttentionBias = bias,
        VocabSize = vocab,
        MaxPositionEmbeddings = 4096,
        SlidingWindow = slidingWindow,
    };

    /// <summary>A random fp32 CPU model; std 0.5 so logits differ enough for argmax to be stable.</summary>
    public static LlamaModel Create(ModelConfig? config = null, long seed = 1)
    {
        var model = new LlamaModel(config ?? Config(), ScalarType.Float32, CPU);
        model.InitializeWeights(seed, std: 0.5);
        model.eval();
        return model;
    }

    public static Tensor Tokens(long seed, int count, int vocab = 97, int batch = 1)
    {
        var g = new Generator((ulong)seed);
        return randint(0, vocab, [batch, count], dtype: int64, generator: g);
    }
}

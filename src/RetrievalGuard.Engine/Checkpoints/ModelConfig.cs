namespace RetrievalGuard.Engine.Checkpoints;

// Temporary stand-in until the checkpoints branch lands; same member names.
public sealed record RopeScaling(string Type, double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositionEmbeddings);

public sealed record ModelConfig
{
    public string Architecture { get; init; } = "LlamaForCausalLM";
    public int HiddenSize { get; init; }
    public int NumLayers { get; init; }
    public int NumHeads { get; init; }
    public int NumKvHeads { get; init; }
    public int HeadDim { get; init; }
    public int IntermediateSize { get; init; }
    public double RmsNormEps { get; init; } = 1e-5;
    public double RopeTheta { get; init; } = 10000;
    public RopeScaling? RopeScaling { get; init; }
    public bool TieWordEmbeddings { get; init; }
    public bool AttentionBias { get; init; }
    public int VocabSize { get; init; }
    public int MaxPositionEmbeddings { get; init; }
    public int? SlidingWindow { get; init; }
    public string? TorchDtype { get; init; }
}

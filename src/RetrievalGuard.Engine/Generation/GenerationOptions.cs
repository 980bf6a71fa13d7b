using RetrievalGuard.Engine.Probes;

namespace RetrievalGuard.Engine.Generation;

/// <summary>How to decode. Temperature 0 is greedy; otherwise top-k, then top-p, then a seeded draw.</summary>
public sealed record GenerationOptions
{
    public int MaxNewTokens { get; init; } = 256;

    public float Temperature { get; init; }

    /// <summary>Keep the smallest set of tokens whose probability reaches this mass (1 = off).</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Keep the K most likely tokens (0 = off).</summary>
    public int TopK { get; init; }

    /// <summary>Seed for sampling; the same seed, prompt and device give the same tokens.</summary>
    public long Seed { get; init; }

    /// <summary>
    /// Tokens that end generation (the tokenizer's stop tokens when null). The stop token itself is reported, flagged.
    /// </summary>
    public IReadOnlyCollection<int>? StopTokenIds { get; init; }

    /// <summary>
    /// Prompt tokens per prefill pass (0 = the whole prompt at once); bounds activation memory on long prompts.
    /// </summary>
    public int PrefillChunk { get; init; }

    /// <summary>
    /// Heads whose attention each <see cref="GeneratedToken"/> reports (full rows and/or a device-side summary).
    /// </summary>
    public AttentionProbe? Probe { get; init; }

    /// <summary>Heads zeroed while generating (ablation studies).</summary>
    public HeadMask? HeadMask { get; init; }

    /// <summary>
    /// Decode through the general forward pass even when the static step could run (reference for tests and
    /// benchmarks).
    /// </summary>
    public bool ForceGeneralPath { get; init; }

    public void Validate()
    {
        if (MaxNewTokens < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "MaxNewTokens must be ≥ 0.");
        if (Temperature < 0 || float.IsNaN(Temperature))
            throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature,
                "Temperature must be ≥ 0 (0 = greedy).");
        if (!(TopP > 0 && TopP <= 1))
            throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1].");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "TopK must be ≥ 0 (0 = off).");
        if (PrefillChunk < 0)
            throw new ArgumentOutOfRangeException(nameof(PrefillChunk), PrefillChunk, "PrefillChunk must be ≥ 0.");
    }
}

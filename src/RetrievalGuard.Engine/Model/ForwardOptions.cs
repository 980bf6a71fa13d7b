using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Probes;

namespace RetrievalGuard.Engine.Model;

/// <summary>How one forward pass runs: where the tokens sit, which cache to use and what to observe.</summary>
public sealed record ForwardOptions
{
    /// <summary>Position of the first input token (the cache's length when continuing).</summary>
    public int StartPosition { get; init; }

    /// <summary>Null for a cache-free pass over the whole sequence (training, scoring).</summary>
    public IKvCache? Cache { get; init; }

    /// <summary>Compute logits for only the last N positions (0 = all). Prefill wants 1.</summary>
    public int LogitsToKeep { get; init; }

    /// <summary>Records chosen heads' attention during this pass.</summary>
    public AttentionProbe? Probe { get; init; }

    /// <summary>Zeroes chosen heads' outputs during this pass.</summary>
    public HeadMask? HeadMask { get; init; }
}

namespace RetrievalGuard.Engine.Probes;

/// <summary>
/// Where the probed heads looked while one token was decoded, summarised on the device: each head's K most attended
/// positions with their weights, and the attention mass per segment (see <see cref="AttentionProbe.SetSegments"/>).
/// Heads are in the probe's <see cref="HeadSet.Heads"/> order.
/// </summary>
public sealed class AttentionSummary(int heads, int topK, int segments, int[] topPositions, float[] topWeights,
    float[] segmentMass)
{
    public int Heads { get; } = heads;
    public int TopK { get; } = topK;
    public int Segments { get; } = segments;

    /// <summary>Most attended positions of <paramref name="head"/>, most attended first.</summary>
    public ReadOnlySpan<int> TopPositions(int head) => topPositions.AsSpan(head * TopK, TopK);

    /// <summary>Their attention weights.</summary>
    public ReadOnlySpan<float> TopWeights(int head) => topWeights.AsSpan(head * TopK, TopK);

    /// <summary>Attention mass of <paramref name="head"/> in each segment (sums to 1 over segments).</summary>
    public ReadOnlySpan<float> SegmentMass(int head) => segmentMass.AsSpan(head * Segments, Segments);
}

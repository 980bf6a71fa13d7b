using RetrievalGuard.Engine.Native;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Probes;

/// <summary>
/// Where attention peaks, with a fixed rule for ties (shared by the decode step's probe and head detection).
/// </summary>
public static class AttentionPeaks
{
    /// <summary>
    /// Index of the largest value along the last dimension, the earliest position among equal maxima (argmax and
    /// topk do not promise which of them they return on every backend). Device-side and graph-capturable.
    /// </summary>
    public static Tensor EarliestMaxPositions(Tensor attention)
    {
        var max = attention.max(-1, keepdim: true).values;
        var positions = Scalars.Range(attention.shape[^1], attention.device).expand_as(attention);
        return positions.masked_fill(attention < max, Scalars.Of(long.MaxValue)).min(-1).values;
    }
}

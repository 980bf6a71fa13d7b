using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Probes;

/// <summary>
/// Zeroes the outputs of chosen heads (before o_proj), as the retrieval-head paper's ablations do.
/// Costs one multiply in the layers that have a masked head and nothing elsewhere.
/// </summary>
public sealed class HeadMask : HeadSet
{
    private readonly Dictionary<(int Layer, string Device, ScalarType DType), Tensor> _masks = new();

    public HeadMask(IEnumerable<HeadIndex> zeroedHeads, int numLayers, int numHeads)
        : base(zeroedHeads, numLayers, numHeads) { }

    /// <summary>[1, heads, 1, 1] of ones with zeros at the masked heads, or null when the layer has none.</summary>
    internal Tensor? LayerMask(int layer, Device device, ScalarType dtype)
    {
        if (!HasLayer(layer)) return null;
        var key = (layer, device.ToString(), dtype);
        lock (_masks)
        {
            if (!_masks.TryGetValue(key, out var mask))
            {
                var values = Enumerable.Repeat(1f, NumHeads).ToArray();
                foreach (int h in HeadsOf(layer)) values[h] = 0f;
                mask = tensor(values, dtype: dtype, device: device).view(1, NumHeads, 1, 1);
                mask.DetachFromDisposeScope();
                _masks[key] = mask;
            }
            return mask;
        }
    }
}

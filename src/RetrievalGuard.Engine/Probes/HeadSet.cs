using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Probes;

/// <summary>
/// A set of heads grouped by layer, validated against the model's shape, with per-layer index tensors
/// made once per device so that a decode step allocates nothing for it.
/// </summary>
public class HeadSet
{
    private readonly Dictionary<int, int[]> _headsByLayer;
    private readonly Dictionary<(int Layer, string Device), Tensor> _indexTensors = new();

    public HeadSet(IEnumerable<HeadIndex> heads, int numLayers, int numHeads)
    {
        var sorted = heads.Distinct().Order().ToArray();
        foreach (var h in sorted)
            if (h.Layer >= numLayers || h.Head >= numHeads || h.Layer < 0 || h.Head < 0)
                throw new ArgumentOutOfRangeException(nameof(heads),
                    $"Head {h} does not exist: the model has {numLayers} layers of {numHeads} heads.");
        Heads = sorted;
        _headsByLayer = sorted.GroupBy(h => h.Layer).ToDictionary(g => g.Key, g => g.Select(h => h.Head).ToArray());
        NumLayers = numLayers;
        NumHeads = numHeads;
    }

    public IReadOnlyList<HeadIndex> Heads { get; }
    public int NumLayers { get; }
    public int NumHeads { get; }
    public int Count => Heads.Count;

    public bool HasLayer(int layer) => _headsByLayer.ContainsKey(layer);

    public IReadOnlyList<int> HeadsOf(int layer) => _headsByLayer.TryGetValue(layer, out var h) ? h : [];

    /// <summary>
    /// The layer's head numbers as an int64 tensor on <paramref name="device"/> (cached, not disposed by scopes).
    /// </summary>
    internal Tensor HeadIndexTensor(int layer, Device device)
    {
        var key = (layer, device.ToString());
        lock (_indexTensors)
        {
            if (!_indexTensors.TryGetValue(key, out var t))
            {
                t = tensor(HeadsOf(layer).Select(h => (long)h).ToArray(), dtype: int64, device: device);
                t.DetachFromDisposeScope();
                _indexTensors[key] = t;
            }
            return t;
        }
    }
}

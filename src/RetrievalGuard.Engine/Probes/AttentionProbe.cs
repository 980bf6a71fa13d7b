using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Probes;

/// <summary>
/// Records, during each forward pass, the attention distribution of the newest query token(s) of the chosen
/// heads over every cached position. Only those heads' scores are computed (q·Kᵀ for the probed rows), never
/// a full attention matrix, so a probe on a few heads costs little even at long context.
/// </summary>
public sealed class AttentionProbe : HeadSet, IDisposable
{
    private readonly List<Tensor> _parts = new();
    private Tensor? _weights;

    /// <param name="queryTokens">How many of the newest query positions to record per pass (1 while decoding).</param>
    public AttentionProbe(IEnumerable<HeadIndex> heads, int numLayers, int numHeads, int queryTokens = 1)
        : base(heads, numLayers, numHeads)
    {
        if (queryTokens < 1) throw new ArgumentOutOfRangeException(nameof(queryTokens), "A probe records at least one query token.");
        if (Count == 0) throw new ArgumentException("An attention probe needs at least one head.", nameof(heads));
        QueryTokens = queryTokens;
    }

    public int QueryTokens { get; }

    /// <summary>
    /// [batch, heads (in <see cref="HeadSet.Heads"/> order), query tokens, key positions] float32 on the model's
    /// device, from the latest forward pass; null before the first. Owned by the probe: valid until the next pass.
    /// </summary>
    public Tensor? Weights => _weights;

    /// <summary>Copies the latest weights of one sequence to the host: [head][query][position].</summary>
    public float[][][] ReadWeights(int batchIndex = 0)
    {
        if (_weights is null) throw new InvalidOperationException("The probe has recorded nothing yet: run a forward pass first.");
        using var scope = NewDisposeScope();
        var host = _weights[batchIndex].to(CPU).contiguous();
        long queries = host.shape[1], positions = host.shape[2];
        var flat = host.data<float>().ToArray();
        var result = new float[Count][][];
        for (int h = 0; h < Count; h++)
        {
            result[h] = new float[queries][];
            for (int q = 0; q < queries; q++)
                result[h][q] = flat.AsSpan((int)((h * queries + q) * positions), (int)positions).ToArray();
        }
        return result;
    }

    internal void BeginPass()
    {
        DisposeParts();
        _weights?.Dispose();
        _weights = null;
    }

    internal void Record(Tensor layerWeights)
    {
        layerWeights.DetachFromDisposeScope();
        _parts.Add(layerWeights);
    }

    internal void EndPass()
    {
        if (_parts.Count == 0) return;
        _weights = _parts.Count == 1 ? _parts[0] : cat(_parts, dim: 1);
        if (_parts.Count == 1) _parts.Clear();
        _weights.DetachFromDisposeScope();
        DisposeParts();
    }

    private void DisposeParts()
    {
        foreach (var p in _parts) p.Dispose();
        _parts.Clear();
    }

    public void Dispose()
    {
        DisposeParts();
        _weights?.Dispose();
        _weights = null;
    }
}

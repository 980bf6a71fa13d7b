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
        if (queryTokens < 1)
            throw new ArgumentOutOfRangeException(nameof(queryTokens), "A probe records at least one query token.");
        if (Count == 0) throw new ArgumentException("An attention probe needs at least one head.", nameof(heads));
        QueryTokens = queryTokens;
    }

    public int QueryTokens { get; }

    /// <summary>
    /// Copy each decoded token's full attention rows to the host (<see cref="Generation.GeneratedToken.Attention"/>).
    /// What head detection needs; a guard that only needs <see cref="TopK"/> and segment masses turns it off, so that
    /// nothing per position crosses to the host.
    /// </summary>
    public bool KeepRows { get; init; } = true;

    /// <summary>The K most attended positions per head and token, found on the device (0 = off).</summary>
    public int TopK
    {
        get => _topK;
        init => _topK = value >= 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(TopK), value, "TopK must be ≥ 0.");
    }

    private readonly int _topK;
    private int[]? _segmentOfPosition;
    private Tensor? _segmentTensor;

    /// <summary>Number of segments set by <see cref="SetSegments"/> (0 = none).</summary>
    public int SegmentCount { get; private set; }

    /// <summary>Changes whenever the device-side segment table is replaced (captured decode graphs check it).</summary>
    internal int SegmentVersion { get; private set; }

    /// <summary>
    /// Labels positions with segments (say 0 = instructions, 1..N = retrieved passages, N+1 = the answer so far);
    /// each decoded token then reports, per head, the attention mass that fell in each segment. Positions past the
    /// end of <paramref name="segmentOfPosition"/> count as segment <paramref name="defaultSegment"/>.
    /// </summary>
    public void SetSegments(IReadOnlyList<int> segmentOfPosition, int segmentCount, int defaultSegment = 0)
    {
        if (segmentCount < 1)
            throw new ArgumentOutOfRangeException(nameof(segmentCount), segmentCount, "At least one segment.");
        ValidateSegments(segmentOfPosition, segmentCount, defaultSegment);
        _segmentOfPosition = [.. segmentOfPosition];
        DefaultSegment = defaultSegment;
        SegmentCount = segmentCount;
        _segmentTensor?.Dispose();
        _segmentTensor = null;
        SegmentVersion++;
    }

    internal int DefaultSegment { get; private set; }

    /// <summary>
    /// Segments per row for batched decoding (0 = off): each row of a <see cref="Generation.BatchDecoder"/> holds its
    /// own prompt, so each gets its own labels (<see cref="SetRowSegments"/>); every row reports this many masses,
    /// a row with fewer segments leaving the rest at zero.
    /// </summary>
    public int RowSegmentCount
    {
        get => _rowSegmentCount;
        init => _rowSegmentCount = value >= 0
            ? value
            : throw new ArgumentOutOfRangeException(nameof(RowSegmentCount), value, "RowSegmentCount must be ≥ 0.");
    }

    private readonly int _rowSegmentCount;
    private readonly Dictionary<int, (int[] Map, int Default)> _rowSegments = new();
    private readonly HashSet<int> _staleRows = new();
    private Tensor? _rowSegmentTensor;

    /// <summary>
    /// Labels the positions of one batch row (see <see cref="SetSegments"/>); set when a sequence takes the row,
    /// before it is prefilled. The device table is rewritten in place, so captured decode graphs stay valid.
    /// </summary>
    public void SetRowSegments(int row, IReadOnlyList<int> segmentOfPosition, int defaultSegment)
    {
        if (RowSegmentCount == 0)
            throw new InvalidOperationException("Create the probe with RowSegmentCount > 0 to label rows.");
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ValidateSegments(segmentOfPosition, RowSegmentCount, defaultSegment);
        lock (_rowSegments)
        {
            _rowSegments[row] = ([.. segmentOfPosition], defaultSegment);
            _staleRows.Add(row);
        }
    }

    /// <summary>One row's one-hot table, float32 [length, <see cref="RowSegmentCount"/>] (for its prefill).</summary>
    internal Tensor RowSegmentTable(int row, Device device, int length)
    {
        lock (_rowSegments)
            return OneHot(_rowSegments.TryGetValue(row, out var labels) ? labels : ([], 0), length, RowSegmentCount,
                device);
    }

    /// <summary>
    /// Every row's one-hot table, float32 [rows, length, <see cref="RowSegmentCount"/>] on the device, allocated once
    /// per shape (which bumps <see cref="SegmentVersion"/>); rows relabelled since the last call are rewritten in
    /// place. Rows never labelled are all zero.
    /// </summary>
    internal Tensor RowSegmentTensor(Device device, int rows, int length)
    {
        lock (_rowSegments)
        {
            var t = _rowSegmentTensor;
            if (t is null || t.shape[0] != rows || t.shape[1] != length || t.device_type != device.type
                || t.device_index != device.index)
            {
                t?.Dispose();
                _rowSegmentTensor = t = zeros([rows, length, RowSegmentCount], dtype: float32, device: device)
                    .DetachFromDisposeScope();
                _staleRows.UnionWith(_rowSegments.Keys);
                SegmentVersion++;
            }
            foreach (var row in _staleRows.Where(r => r < rows))
            {
                using var scope = NewDisposeScope();
                t[row].copy_(OneHot(_rowSegments[row], length, RowSegmentCount, device));
            }
            _staleRows.Clear();
            return t;
        }
    }

    private static Tensor OneHot((int[] Map, int Default) labels, int length, int segments, Device device)
    {
        var ids = Enumerable.Range(0, length)
            .Select(i => (long)(i < labels.Map.Length ? labels.Map[i] : labels.Default)).ToArray();
        return nn.functional.one_hot(tensor(ids, dtype: int64), segments).to(float32).to(device);
    }

    private static void ValidateSegments(IReadOnlyList<int> segmentOfPosition, int segmentCount, int defaultSegment)
    {
        if (defaultSegment < 0 || defaultSegment >= segmentCount)
            throw new ArgumentOutOfRangeException(nameof(defaultSegment), defaultSegment,
                $"Default segment must be in 0..{segmentCount - 1}.");
        for (int i = 0; i < segmentOfPosition.Count; i++)
            if (segmentOfPosition[i] < 0 || segmentOfPosition[i] >= segmentCount)
                throw new ArgumentOutOfRangeException(nameof(segmentOfPosition),
                    $"Position {i} has segment {segmentOfPosition[i]}, outside 0..{segmentCount - 1}.");
    }

    private readonly Dictionary<(int Layer, string Device), Tensor> _slotTensors = new();

    /// <summary>
    /// int32 [model heads] for one layer: each probed head's place in <see cref="HeadSet.Heads"/> (its row in the
    /// probe's output), −1 for heads not probed. The fused decode kernels write probed heads' scores by it.
    /// </summary>
    internal Tensor SlotTensor(int layer, Device device)
    {
        var key = (layer, device.ToString());
        lock (_slotTensors)
        {
            if (!_slotTensors.TryGetValue(key, out var t))
            {
                var slots = Enumerable.Repeat(-1, NumHeads).ToArray();
                for (int i = 0; i < Heads.Count; i++)
                    if (Heads[i].Layer == layer) slots[Heads[i].Head] = i;
                t = tensor(slots, dtype: int32, device: device);
                t.DetachFromDisposeScope();
                _slotTensors[key] = t;
            }
            return t;
        }
    }

    /// <summary>
    /// One-hot segment table, float32 [length, segments] on the device (made once per table, device and length):
    /// the mass per segment is then one small matrix product instead of a scatter with contended atomics.
    /// </summary>
    internal Tensor? SegmentTensor(Device device, int length)
    {
        if (_segmentOfPosition is null) return null;
        if (_segmentTensor is null || _segmentTensor.shape[0] < length || _segmentTensor.device_type != device.type
            || _segmentTensor.device_index != device.index)
        {
            var ids = Enumerable.Range(0, length)
                .Select(i => (long)(i < _segmentOfPosition.Length ? _segmentOfPosition[i] : DefaultSegment))
                .ToArray();
            _segmentTensor?.Dispose();
            using (NewDisposeScope())
                _segmentTensor = nn.functional.one_hot(tensor(ids, dtype: int64), SegmentCount).to(float32).to(device)
                    .DetachFromDisposeScope();
            SegmentVersion++;
        }
        return _segmentTensor;
    }

    /// <summary>
    /// [batch, heads (in <see cref="HeadSet.Heads"/> order), query tokens, key positions] float32 on the model's
    /// device, from the latest forward pass; null before the first. Owned by the probe: valid until the next pass.
    /// </summary>
    public Tensor? Weights => _weights;

    /// <summary>Copies the latest weights of one sequence to the host: [head][query][position].</summary>
    public float[][][] ReadWeights(int batchIndex = 0)
    {
        if (_weights is null)
            throw new InvalidOperationException("The probe has recorded nothing yet: run a forward pass first.");
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
        lock (_slotTensors)
        {
            foreach (var t in _slotTensors.Values) t.Dispose();
            _slotTensors.Clear();
        }
        _segmentTensor?.Dispose();
        _segmentTensor = null;
        _rowSegmentTensor?.Dispose();
        _rowSegmentTensor = null;
        DisposeParts();
        _weights?.Dispose();
        _weights = null;
    }
}

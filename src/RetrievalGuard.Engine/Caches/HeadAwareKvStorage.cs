using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Native;
using RetrievalGuard.Engine.Probes;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Caches;

/// <summary>
/// The head-aware compressed cache (<see cref="KvCachePolicy"/>) for many sequences at once, each row with its own
/// length (continuous batching). Per layer, the KV heads kept full hold every position of every row,
/// [rows, full heads, stored positions, dim]; the others a ring of sinks + recent window, [rows, streaming heads,
/// ring + 1, dim] (the last slot is where rows that sit out a step write). Memory is really smaller: a row costs
/// <see cref="BytesPerRow"/>, so a fixed KV budget holds more sequences than the full cache.
/// <para>
/// Rows are prefilled through <see cref="RowCache"/> (the general forward pass, chunked, with streaming heads
/// attending only within sinks + window) and decoded by <see cref="LlamaModel"/>'s head-aware static step: libtorch
/// operators over both parts, no gather into a full-length tensor, fixed shapes (CUDA-graph capturable).
/// </para>
/// </summary>
public sealed class HeadAwareKvStorage : IBatchKvStorage
{
    private readonly Tensor?[] _fullKeys, _fullValues, _ringKeys, _ringValues;
    private readonly Tensor[] _fullHeads, _streamHeads;

    public HeadAwareKvStorage(ModelConfig config, KvCachePolicy policy, int rows, int capacity, ScalarType dtype,
        Device device)
    {
        KvStorage.CheckRows(rows, capacity);
        (Config, Policy, Rows, Capacity, DType, Device) = (config, policy, rows, capacity, dtype, device);
        FullMask = policy.FullMask(config);
        ChunkLength = KvStorage.ChunkLengthOn(device.type);
        StoredPositions = KvStorage.StoredPositionsFor(capacity, ChunkLength);
        RingLength = RingLengthFor(policy, capacity);
        int layers = config.NumLayers;
        (_fullKeys, _fullValues, _ringKeys, _ringValues) =
            (new Tensor?[layers], new Tensor?[layers], new Tensor?[layers], new Tensor?[layers]);
        (_fullHeads, _streamHeads) = (new Tensor[layers], new Tensor[layers]);
        for (int layer = 0; layer < layers; layer++)
        {
            var (full, streaming) = Split(FullMask[layer]);
            _fullHeads[layer] = tensor(full, dtype: int64, device: device).DetachFromDisposeScope();
            _streamHeads[layer] = tensor(streaming, dtype: int64, device: device).DetachFromDisposeScope();
            if (full.Length > 0)
                (_fullKeys[layer], _fullValues[layer]) = (Buffer(full.Length, StoredPositions),
                    Buffer(full.Length, StoredPositions));
            if (streaming.Length > 0)
                (_ringKeys[layer], _ringValues[layer]) = (Buffer(streaming.Length, RingLength + 1),
                    Buffer(streaming.Length, RingLength + 1));
        }
    }

    private Tensor Buffer(int heads, int positions) =>
        zeros([Rows, heads, positions, Config.HeadDim], DType, Device).DetachFromDisposeScope();

    /// <summary>KV head indices of a layer kept full and kept as a ring, each in ascending order.</summary>
    internal static (long[] Full, long[] Streaming) Split(bool[] fullMask) =>
        (Enumerable.Range(0, fullMask.Length).Where(h => fullMask[h]).Select(h => (long)h).ToArray(),
         Enumerable.Range(0, fullMask.Length).Where(h => !fullMask[h]).Select(h => (long)h).ToArray());

    /// <summary>Slots of a streaming head: sinks, then the window, never more than the capacity.</summary>
    internal static int RingLengthFor(KvCachePolicy policy, int capacity) =>
        Math.Min(capacity, policy.SinkTokens + policy.Window);

    public ModelConfig Config { get; }
    public KvCachePolicy Policy { get; }

    /// <summary>Per layer, per KV head: kept full.</summary>
    public bool[][] FullMask { get; }

    public int Rows { get; }
    public int Capacity { get; }
    public int StoredPositions { get; }
    public int ChunkLength { get; }
    public ScalarType DType { get; }
    public Device Device { get; }

    /// <summary>Slots per streaming head and row (sinks + window, at most the capacity), scratch not counted.</summary>
    public int RingLength { get; }

    public int ScratchPosition => Capacity;

    public long SizeInBytes => new[] { _fullKeys, _fullValues, _ringKeys, _ringValues }
        .SelectMany(t => t).Sum(t => t is null ? 0 : t.NumberOfElements * t.ElementSize);

    /// <summary>
    /// Bytes one row of this storage holds for <paramref name="config"/> under <paramref name="policy"/> (what
    /// <see cref="SizeInBytes"/> / <see cref="Rows"/> will be), computed without allocating: for sizing a KV budget.
    /// </summary>
    public static long BytesPerRow(ModelConfig config, KvCachePolicy policy, int capacity, ScalarType dtype,
        DeviceType device)
    {
        var mask = policy.FullMask(config);
        long stored = KvStorage.StoredPositionsFor(capacity, KvStorage.ChunkLengthOn(device));
        long ring = RingLengthFor(policy, capacity) + 1;
        long slots = mask.Sum(layer => layer.Sum(full => full ? stored : ring));
        return 2 * slots * config.HeadDim * KvStorage.ElementBytes(dtype);
    }

    /// <summary>
    /// The ring's arithmetic, one place for the prefill and the static step: the position each of
    /// <paramref name="ring"/> slots holds once position <paramref name="last"/> (int64 [rows]; −1 before any) has
    /// been written, [rows, ring] (−1: empty). Slot s &lt; sinks holds position s; window slot s holds the latest
    /// position ≡ s − sinks (mod window).
    /// </summary>
    internal static Tensor SlotPositions(Tensor last, KvCachePolicy policy, long ring)
    {
        Scalar sinks = Scalars.Of(policy.SinkTokens), window = Scalars.Of(policy.Window);
        var p = last.unsqueeze(1);
        var slot = Scalars.Range(ring, last.device).unsqueeze(0);
        var offset = slot - sinks;
        var lastInWindow = p - sinks;
        var windowed = ((lastInWindow - offset).div(window, rounding_mode: RoundingMode.floor) * window)
            .Plus(offset).Plus(sinks);
        var isSink = slot < sinks;
        var atSlot = where(isSink, slot.expand_as(windowed), windowed);
        var held = where(isSink, slot <= p, lastInWindow >= offset);
        return atSlot.masked_fill(held.logical_not(), Scalars.Of(-1L));
    }

    /// <summary>The ring slot each position (int64) is written to: its own below the sinks, else its residue.
    /// </summary>
    internal static Tensor SlotOf(Tensor positions, KvCachePolicy policy) =>
        where(positions < Scalars.Of(policy.SinkTokens), positions,
            (positions - Scalars.Of(policy.SinkTokens)).remainder(Scalars.Of(policy.Window))
            .Plus(Scalars.Of(policy.SinkTokens)));

    /// <summary>A layer's full part, [rows, full heads, stored positions, dim] keys and values, or null.</summary>
    internal (Tensor Keys, Tensor Values)? Full(int layer) =>
        _fullKeys[layer] is { } keys ? (keys, _fullValues[layer]!) : null;

    /// <summary>A layer's streaming part, [rows, streaming heads, ring + 1, dim] keys and values, or null.</summary>
    internal (Tensor Keys, Tensor Values)? Ring(int layer) =>
        _ringKeys[layer] is { } keys ? (keys, _ringValues[layer]!) : null;

    /// <summary>KV head indices (int64) of a layer's full part, in its order.</summary>
    internal Tensor FullHeads(int layer) => _fullHeads[layer];

    /// <summary>KV head indices (int64) of a layer's streaming part, in its order.</summary>
    internal Tensor StreamHeads(int layer) => _streamHeads[layer];

    public IKvCache RowCache(int row)
    {
        if (row < 0 || row >= Rows)
            throw new ArgumentOutOfRangeException(nameof(row), row, $"The storage has rows 0..{Rows - 1}.");
        return new HeadAwareKvCache(this, row);
    }

    internal IDisposable? Runner { get; set; }

    IDisposable? IBatchKvStorage.Runner { get => Runner; set => Runner = value; }

    (Tensor Logits, Tensor? ProbeRows) IBatchKvStorage.DecodeStep(LlamaModel model, Tensor tokenIds,
        Tensor positions, int keyLength, AttentionProbe? probe, HeadMask? headMask) =>
        model.DecodeStepHeadAware(tokenIds, positions, this, keyLength, probe, headMask);

    public void Dispose()
    {
        Runner?.Dispose();
        Runner = null;
        foreach (var t in new[] { _fullKeys, _fullValues, _ringKeys, _ringValues }.SelectMany(t => t))
            t?.Dispose();
        foreach (var t in _fullHeads.Concat(_streamHeads))
            t.Dispose();
    }
}

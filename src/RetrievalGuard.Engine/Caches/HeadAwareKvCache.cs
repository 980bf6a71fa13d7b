using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Native;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Caches;

/// <summary>
/// The retrieval-head-aware compressed cache (<see cref="KvCachePolicy"/>): per layer, the KV heads kept full hold
/// every position in a preallocated buffer; the others hold only the first <see cref="SinkTokens"/> positions and a
/// ring of the last <see cref="Window"/>, so memory is really smaller, not masked. Attention runs per group: full
/// heads over their positions, streaming heads over their ring plus the new tokens (so a long prefill chunk is
/// cheaper for them too), with no full-length tensor for the streaming heads. Rows share one length; a row of a
/// <see cref="HeadAwareKvStorage"/> (continuous batching, rows of their own lengths) is prefilled through one.
/// <para>Made by the model (<see cref="WithStaticDecode"/>), a sequence decodes through the head-aware static step;
/// made with the constructor, through the general forward pass (libtorch operators).</para>
/// </summary>
public sealed class HeadAwareKvCache : IKvCache
{
    private readonly Tensor?[] _fullKeys, _fullValues, _ringKeys, _ringValues;
    private readonly Tensor[] _fullIndex, _streamIndex;
    private readonly Device _device;
    private (int Start, long Tokens, Tensor Positions, Tensor Mask)? _streamLayout;

    public HeadAwareKvCache(ModelConfig config, KvCachePolicy policy, int capacity, ScalarType dtype, Device device,
        int batchSize = 1) : this(config, policy, capacity, dtype, device, batchSize, borrowed: null)
    {
    }

    /// <summary>Row <paramref name="row"/> of a batch storage as a cache of its own (views of its buffers).</summary>
    internal HeadAwareKvCache(HeadAwareKvStorage storage, int row) : this(storage.Config, storage.Policy,
        storage.Capacity, storage.DType, storage.Device, 1, (layer, full) => RowViews(storage, layer, full, row))
    {
    }

    private HeadAwareKvCache(ModelConfig config, KvCachePolicy policy, int capacity, ScalarType dtype, Device device,
        int batchSize, Func<int, bool, (Tensor Keys, Tensor Values)?>? borrowed)
    {
        Native.TorchRuntime.EnsureInitialized();
        if (capacity <= 0)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "Cache capacity must be positive.");
        if (batchSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "Batch size must be positive.");
        Policy = policy;
        (Capacity, BatchSize, SinkTokens, Window, _device) =
            (capacity, batchSize, policy.SinkTokens, policy.Window, device);
        (NumKvHeads, HeadDim, DType) = (config.NumKvHeads, config.HeadDim, dtype);
        FullMask = policy.FullMask(config);
        int layers = config.NumLayers;
        (_fullKeys, _fullValues, _ringKeys, _ringValues) =
            (new Tensor?[layers], new Tensor?[layers], new Tensor?[layers], new Tensor?[layers]);
        (_fullIndex, _streamIndex) = (new Tensor[layers], new Tensor[layers]);
        for (int layer = 0; layer < layers; layer++)
        {
            var (full, streaming) = HeadAwareKvStorage.Split(FullMask[layer]);
            _fullIndex[layer] = tensor(full, dtype: int64, device: device).DetachFromDisposeScope();
            _streamIndex[layer] = tensor(streaming, dtype: int64, device: device).DetachFromDisposeScope();
            if (full.Length > 0)
                (_fullKeys[layer], _fullValues[layer]) = borrowed?.Invoke(layer, true)
                    ?? (Buffer(full.Length, capacity), Buffer(full.Length, capacity));
            if (streaming.Length > 0)
                (_ringKeys[layer], _ringValues[layer]) = borrowed?.Invoke(layer, false)
                    ?? (Buffer(streaming.Length, RingLength), Buffer(streaming.Length, RingLength));
        }
    }

    /// <summary>
    /// One sequence's compressed cache over a one-row <see cref="HeadAwareKvStorage"/> it owns: generation then
    /// decodes through the head-aware static step (fixed shapes, CUDA graphs) instead of the general pass.
    /// </summary>
    public static HeadAwareKvCache WithStaticDecode(ModelConfig config, KvCachePolicy policy, int capacity,
        ScalarType dtype, Device device)
    {
        var storage = new HeadAwareKvStorage(config, policy, 1, capacity, dtype, device);
        return new HeadAwareKvCache(storage, 0) { _owned = storage };
    }

    private HeadAwareKvStorage? _owned;

    /// <summary>The one-row storage this cache owns (<see cref="WithStaticDecode"/>), else null.</summary>
    public IBatchKvStorage? StaticDecodeStorage => _owned;

    private Tensor Buffer(int heads, int positions) =>
        zeros([BatchSize, heads, positions, HeadDim], DType, _device).DetachFromDisposeScope();

    /// <summary>A row's views of a storage's full part (every stored position) or ring (without the scratch slot).
    /// </summary>
    private static (Tensor, Tensor)? RowViews(HeadAwareKvStorage storage, int layer, bool full, int row)
    {
        if ((full ? storage.Full(layer) : storage.Ring(layer)) is not { } part)
            return null;
        Tensor View(Tensor t) => (full ? t.narrow(0, row, 1) : t.narrow(0, row, 1).narrow(2, 0, storage.RingLength))
            .DetachFromDisposeScope();
        return (View(part.Keys), View(part.Values));
    }

    public KvCachePolicy Policy { get; }

    /// <summary>Per layer, per KV head: kept full.</summary>
    public bool[][] FullMask { get; }

    public int SinkTokens { get; }
    public int Window { get; }
    public int NumKvHeads { get; }
    public int HeadDim { get; }
    public ScalarType DType { get; }
    public int BatchSize { get; }
    public int Capacity { get; }
    public int Length { get; private set; }

    /// <summary>
    /// Positions a streaming head holds: sinks, then the recent window — never more than the capacity, so a short
    /// cache is not larger than the full one would be (below sinks + window nothing wraps).
    /// </summary>
    public int RingLength => HeadAwareKvStorage.RingLengthFor(Policy, Capacity);

    /// <summary>Bytes the cache holds on the device: exactly its buffers (a storage row's: its share).</summary>
    public long SizeInBytes => _owned?.SizeInBytes ?? new[] { _fullKeys, _fullValues, _ringKeys, _ringValues }
        .SelectMany(t => t).Sum(t => t is null ? 0 : t.NumberOfElements * t.ElementSize);

    /// <summary>What a cache keeping every position of every KV head would hold at this capacity.</summary>
    public long FullSizeInBytes =>
        2L * FullMask.Length * BatchSize * NumKvHeads * Capacity * HeadDim * ElementBytes;

    private long ElementBytes => (_fullKeys.FirstOrDefault(t => t is not null) ?? _ringKeys.First(t => t is not null))!
        .ElementSize;

    public KvView Update(int layer, Tensor keys, Tensor values, int startPosition)
    {
        long tokens = keys.shape[2];
        if (keys.shape[0] != BatchSize)
            throw new ArgumentException($"Batch of {keys.shape[0]} does not match the cache's batch size {BatchSize}.");
        if (startPosition < 0 || startPosition + tokens > Capacity)
            throw new InvalidOperationException($"Positions {startPosition}..{startPosition + tokens - 1} do not fit a "
                + $"KV cache of capacity {Capacity}; create a larger cache.");
        if (startPosition != Length)
            throw new InvalidOperationException(
                $"The head-aware cache continues at position {Length}, not {startPosition}: its rings cannot go back.");
        var (fullKeys, fullValues) = (Full(layer, keys, _fullKeys[layer], startPosition),
            Full(layer, values, _fullValues[layer], startPosition));
        if (_ringKeys[layer] is not { } ringKeys)
            return new KvView(fullKeys, fullValues);
        var (positions, mask) = StreamLayout(startPosition, tokens);
        var newKeys = keys.index_select(1, _streamIndex[layer]);
        var newValues = values.index_select(1, _streamIndex[layer]);
        // Read the ring before writing the new tokens into it: queries early in a long chunk still see positions that
        // later tokens of the same chunk evict.
        var streaming = new StreamingKv(_fullIndex[layer], _streamIndex[layer], cat([ringKeys, newKeys], 2),
            cat([_ringValues[layer]!, newValues], 2), mask, positions);
        var (slots, offsets) = RingWrites(startPosition, tokens);
        if (slots is not null)
        {
            ringKeys.index_copy_(2, slots, newKeys.index_select(2, offsets!));
            _ringValues[layer]!.index_copy_(2, slots, newValues.index_select(2, offsets!));
        }
        return new KvView(fullKeys, fullValues, null, streaming);
    }

    /// <summary>The full heads' keys or values after writing the new ones (a [B, 0, L, D] view when none).</summary>
    private Tensor Full(int layer, Tensor fresh, Tensor? buffer, int start)
    {
        long tokens = fresh.shape[2];
        var selected = fresh.index_select(1, _fullIndex[layer]);
        if (buffer is null)
            return zeros([BatchSize, 0, start + tokens, HeadDim], DType, _device);
        buffer.narrow(2, start, tokens).copy_(selected);
        return start == 0 ? selected : buffer.narrow(2, 0, start + tokens);
    }

    /// <summary>
    /// Key positions of the streaming heads' attention (ring slots, then the new tokens; -1 for an empty slot) and
    /// the mask [tokens, ring + tokens]: causal, and within the sinks or the window. Shared by every layer of a pass.
    /// </summary>
    private (Tensor Positions, Tensor Mask) StreamLayout(int start, long tokens)
    {
        if (_streamLayout is { } cached && cached.Start == start && cached.Tokens == tokens)
            return (cached.Positions, cached.Mask);
        _streamLayout?.Positions.Dispose();
        _streamLayout?.Mask.Dispose();
        using var scope = NewDisposeScope();
        var before = tensor(new long[] { start - 1 }, dtype: int64, device: _device);
        var newPositions = Scalars.Range(start, start + tokens, _device);
        var positions = cat([HeadAwareKvStorage.SlotPositions(before, Policy, RingLength)[0], newPositions]);
        var queries = newPositions.unsqueeze(1);
        var keysAt = positions.unsqueeze(0);
        var mask = (keysAt >= Scalars.Of(0L)).logical_and(keysAt <= queries)
            .logical_and((keysAt < Scalars.Of(SinkTokens)).logical_or(queries - keysAt < Scalars.Of(Window)));
        _streamLayout = (start, tokens, positions.DetachFromDisposeScope(), mask.DetachFromDisposeScope());
        return (_streamLayout.Value.Positions, _streamLayout.Value.Mask);
    }

    /// <summary>Ring slots the new tokens go to and their offsets in the chunk (only those the ring keeps).</summary>
    private (Tensor? Slots, Tensor? Offsets) RingWrites(int start, long tokens)
    {
        var kept = Enumerable.Range(start, (int)tokens)
            .Where(p => p < SinkTokens || p >= start + tokens - Window)
            .ToArray();
        if (kept.Length == 0)
            return (null, null);
        var positions = tensor(kept.Select(p => (long)p).ToArray(), dtype: int64, device: _device);
        return (HeadAwareKvStorage.SlotOf(positions, Policy),
            tensor(kept.Select(p => (long)(p - start)).ToArray(), dtype: int64, device: _device));
    }

    public void Commit(int length) => Length = length;

    /// <summary>Back to empty (0) or no-op (the current length): evicted positions cannot come back.</summary>
    public void Truncate(int length)
    {
        if (length == Length)
            return;
        if (length != 0)
            throw new NotSupportedException(
                $"The head-aware cache can only be emptied (0) or kept ({Length}), not truncated to {length}: "
                + "positions its rings evicted are gone.");
        Length = 0;
    }

    public void Dispose()
    {
        foreach (var t in new[] { _fullKeys, _fullValues, _ringKeys, _ringValues }.SelectMany(t => t))
            t?.Dispose();
        foreach (var t in _fullIndex.Concat(_streamIndex))
            t.Dispose();
        _streamLayout?.Positions.Dispose();
        _streamLayout?.Mask.Dispose();
        _owned?.Dispose();
    }
}

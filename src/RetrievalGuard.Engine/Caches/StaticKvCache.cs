using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Caches;

/// <summary>
/// The full cache: one preallocated [batch, kv heads, capacity, head dim] buffer per layer for keys and for
/// values, written in place. Nothing is allocated per step; attention reads views of the filled prefix.
/// </summary>
public sealed class StaticKvCache : IKvCache
{
    private readonly Tensor[] _keys;
    private readonly Tensor[] _values;

    public StaticKvCache(int numLayers, int batchSize, int numKvHeads, int headDim, int capacity, ScalarType dtype, Device device)
    {
        Native.TorchRuntime.EnsureInitialized();
        if (capacity <= 0) throw new ArgumentOutOfRangeException(nameof(capacity), "Cache capacity must be positive.");
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), "Batch size must be positive.");
        BatchSize = batchSize;
        Capacity = capacity;
        _keys = new Tensor[numLayers];
        _values = new Tensor[numLayers];
        for (int i = 0; i < numLayers; i++)
        {
            _keys[i] = zeros([batchSize, numKvHeads, capacity, headDim], dtype, device).DetachFromDisposeScope();
            _values[i] = zeros([batchSize, numKvHeads, capacity, headDim], dtype, device).DetachFromDisposeScope();
        }
    }

    public int BatchSize { get; }
    public int Capacity { get; }
    public int Length { get; private set; }

    /// <summary>Bytes held on the device by the buffers.</summary>
    public long SizeInBytes => _keys.Sum(k => k.NumberOfElements * k.ElementSize) * 2;

    public KvView Update(int layer, Tensor keys, Tensor values, int startPosition)
    {
        long tokens = keys.shape[2];
        if (startPosition < 0 || startPosition + tokens > Capacity)
            throw new InvalidOperationException(
                $"Positions {startPosition}..{startPosition + tokens - 1} do not fit a KV cache of capacity {Capacity}; create a larger cache.");
        if (keys.shape[0] != BatchSize)
            throw new ArgumentException($"Batch of {keys.shape[0]} does not match the cache's batch size {BatchSize}.");
        _keys[layer].narrow(2, startPosition, tokens).copy_(keys);
        _values[layer].narrow(2, startPosition, tokens).copy_(values);
        long filled = startPosition + tokens;
        return new KvView(_keys[layer].narrow(2, 0, filled), _values[layer].narrow(2, 0, filled));
    }

    public void Commit(int length) => Length = length;

    public void Truncate(int length)
    {
        if (length < 0 || length > Length) throw new ArgumentOutOfRangeException(nameof(length), $"Can truncate to 0..{Length}, not {length}.");
        Length = length;
    }

    public void Dispose()
    {
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}

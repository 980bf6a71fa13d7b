using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Caches;

/// <summary>
/// The full cache: every position of every layer kept, in preallocated buffers written in place. Its rows
/// (batch) share one length. Nothing is allocated per step; attention reads views of the filled prefix, and the
/// static decode step (<see cref="Generation.TokenGenerator"/>) writes and reads the buffers directly.
/// </summary>
public sealed class StaticKvCache : IKvCache
{
    public StaticKvCache(int numLayers, int batchSize, int numKvHeads, int headDim, int capacity, ScalarType dtype,
        Device device)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), "Batch size must be positive.");
        Storage = new KvStorage(numLayers, batchSize, numKvHeads, headDim, capacity, dtype, device);
    }

    public KvStorage Storage { get; }
    public int BatchSize => Storage.Rows;
    public int Capacity => Storage.Capacity;
    public int Length { get; private set; }

    /// <summary>One sequence decodes through the static step; a batch of rows that share one length does not.</summary>
    public IBatchKvStorage? StaticDecodeStorage => BatchSize == 1 ? Storage : null;

    /// <summary>Bytes held on the device by the buffers.</summary>
    public long SizeInBytes => Storage.SizeInBytes;

    public KvView Update(int layer, Tensor keys, Tensor values, int startPosition)
    {
        if (keys.shape[0] != BatchSize)
            throw new ArgumentException($"Batch of {keys.shape[0]} does not match the cache's batch size {BatchSize}.");
        return Storage.Write(layer, 0, keys, values, startPosition);
    }

    public void Commit(int length) => Length = length;

    public void Truncate(int length)
    {
        if (length < 0 || length > Length)
            throw new ArgumentOutOfRangeException(nameof(length), $"Can truncate to 0..{Length}, not {length}.");
        Length = length;
    }

    public void Dispose() => Storage.Dispose();
}

using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Caches;

/// <summary>
/// One row of a shared <see cref="KvStorage"/> seen as a cache of its own (batch 1, its own length): how a
/// sequence is prefilled into its slot before it joins batched decoding.
/// </summary>
public sealed class KvRowCache(KvStorage storage, int row) : IKvCache
{
    public KvStorage Storage { get; } = storage;
    public int Row { get; } = row >= 0 && row < storage.Rows
        ? row
        : throw new ArgumentOutOfRangeException(nameof(row), row, $"The storage has rows 0..{storage.Rows - 1}.");
    public int BatchSize => 1;
    public int Capacity => Storage.Capacity;
    public int Length { get; private set; }

    public KvView Update(int layer, Tensor keys, Tensor values, int startPosition)
    {
        if (keys.shape[0] != 1) throw new ArgumentException($"A row cache takes batch 1, not {keys.shape[0]}.");
        return Storage.Write(layer, Row, keys, values, startPosition);
    }

    public void Commit(int length) => Length = length;

    public void Truncate(int length)
    {
        if (length < 0 || length > Length)
            throw new ArgumentOutOfRangeException(nameof(length), $"Can truncate to 0..{Length}, not {length}.");
        Length = length;
    }

    /// <summary>The storage belongs to its owner; a row view frees nothing.</summary>
    public void Dispose() { }
}

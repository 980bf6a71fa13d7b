using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Caches;

/// <summary>
/// Rows of a shared <see cref="KvStorage"/> seen as one cache of batch <c>rows.Length</c>, all at the same length: how
/// a prompt is prefilled into its row before it joins batched decoding, alone or with others that join together in
/// one batched pass. Rows need not be adjacent; adjacent ones are written in one copy.
/// </summary>
public sealed class KvRowsCache : IKvCache
{
    private readonly int[] _rows;
    private readonly bool _adjacent;

    public KvRowsCache(KvStorage storage, IReadOnlyList<int> rows)
    {
        Storage = storage;
        if (rows.Count == 0)
            throw new ArgumentException("A rows cache needs at least one row.", nameof(rows));
        foreach (var row in rows)
            if (row < 0 || row >= storage.Rows)
                throw new ArgumentOutOfRangeException(nameof(rows), row,
                    $"The storage has rows 0..{storage.Rows - 1}.");
        if (rows.Distinct().Count() != rows.Count)
            throw new ArgumentException($"Rows {string.Join(", ", rows)} repeat one.", nameof(rows));
        _rows = [.. rows];
        _adjacent = _rows.Select((row, i) => row - i).Distinct().Count() == 1;
    }

    public KvStorage Storage { get; }
    public IReadOnlyList<int> Rows => _rows;
    public int BatchSize => _rows.Length;
    public int Capacity => Storage.Capacity;
    public int Length { get; private set; }

    public KvView Update(int layer, Tensor keys, Tensor values, int startPosition)
    {
        if (keys.shape[0] != _rows.Length)
            throw new ArgumentException($"This cache holds {_rows.Length} rows, not {keys.shape[0]}.");
        if (_adjacent)
            return Storage.Write(layer, _rows[0], keys, values, startPosition);
        var views = _rows.Select((row, i) =>
            Storage.Write(layer, row, keys.narrow(0, i, 1), values.narrow(0, i, 1), startPosition)).ToArray();
        // From position 0 the rows attend over the new tensors themselves; later chunks read their rows back.
        return startPosition == 0
            ? new KvView(keys, values)
            : new KvView(cat(views.Select(v => v.Keys).ToArray(), 0), cat(views.Select(v => v.Values).ToArray(), 0));
    }

    public void Commit(int length) => Length = length;

    public void Truncate(int length)
    {
        if (length < 0 || length > Length)
            throw new ArgumentOutOfRangeException(nameof(length), $"Can truncate to 0..{Length}, not {length}.");
        Length = length;
    }

    /// <summary>The storage belongs to its owner; a rows view frees nothing.</summary>
    public void Dispose() { }
}

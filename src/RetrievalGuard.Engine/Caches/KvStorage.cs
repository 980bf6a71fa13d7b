using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Probes;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Caches;

/// <summary>
/// Preallocated key/value buffers, one pair per layer, a row per sequence, written in place. Positions run to
/// <see cref="StoredPositions"/> (capacity + 1, rounded up to whole chunks): the extra positions are scratch, where
/// a row that sits out a batched decode step writes, so the step's shapes (and a captured CUDA graph) stay fixed
/// while sequences come and go.
/// <para>
/// Keys are [rows, kv heads, positions, head dim]. Values are chunk-major, [chunks, rows, kv heads, chunk, head dim]:
/// the decode step then multiplies attention weights by values as one batched product over (chunk, row, head) —
/// a split-K that keeps every multiprocessor busy at long context — without copying the values. Code that wants
/// the usual layout uses <see cref="ValuesOf"/>.
/// </para>
/// </summary>
public sealed class KvStorage : IBatchKvStorage
{
    private readonly Tensor[] _keys;
    private readonly Tensor[] _values;

    public KvStorage(int numLayers, int rows, int numKvHeads, int headDim, int capacity, ScalarType dtype,
        Device device)
    {
        CheckRows(rows, capacity);
        (Rows, Capacity, NumKvHeads, HeadDim, DType, Device) = (rows, capacity, numKvHeads, headDim, dtype, device);
        ChunkLength = ChunkLengthOn(device.type);
        Chunks = StoredPositionsFor(capacity, ChunkLength) / ChunkLength;
        _keys = new Tensor[numLayers];
        _values = new Tensor[numLayers];
        for (int i = 0; i < numLayers; i++)
        {
            _keys[i] = zeros([rows, numKvHeads, StoredPositions, headDim], dtype, device).DetachFromDisposeScope();
            _values[i] = zeros([Chunks, rows, numKvHeads, ChunkLength, headDim], dtype, device)
                .DetachFromDisposeScope();
        }
    }

    /// <summary>Loads libtorch and checks a storage's shape: at least one row and one position.</summary>
    internal static void CheckRows(int rows, int capacity)
    {
        Native.TorchRuntime.EnsureInitialized();
        if (capacity <= 0)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "Cache capacity must be positive.");
        if (rows <= 0)
            throw new ArgumentOutOfRangeException(nameof(rows), rows, "A cache needs at least one row (sequence).");
    }

    /// <summary>Long chunks on a GPU (few, large products); short ones on a CPU, where padding costs real time.
    /// </summary>
    internal static int ChunkLengthOn(DeviceType device) => device == DeviceType.CUDA ? 256 : 16;

    /// <summary>Capacity + one scratch position, rounded up to whole chunks.</summary>
    internal static int StoredPositionsFor(int capacity, int chunkLength) =>
        (capacity + 1 + chunkLength - 1) / chunkLength * chunkLength;

    internal static long ElementBytes(ScalarType dtype) => dtype switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        _ => 1,
    };

    /// <summary>Bytes one row holds (what <see cref="SizeInBytes"/> / <see cref="Rows"/> will be), without
    /// allocating: for sizing a KV budget.</summary>
    public static long BytesPerRow(int numLayers, int numKvHeads, int headDim, int capacity, ScalarType dtype,
        DeviceType device) =>
        2L * numLayers * numKvHeads * StoredPositionsFor(capacity, ChunkLengthOn(device)) * headDim
        * ElementBytes(dtype);

    public int Rows { get; }

    /// <summary>Positions each row can hold (scratch not counted).</summary>
    public int Capacity { get; }

    public int NumKvHeads { get; }
    public int HeadDim { get; }
    public ScalarType DType { get; }
    public Device Device { get; }
    public int NumLayers => _keys.Length;

    /// <summary>Positions per value chunk; decode windows are whole chunks.</summary>
    public int ChunkLength { get; }

    public int Chunks { get; }

    /// <summary>Positions allocated per row: capacity + scratch, in whole chunks.</summary>
    public int StoredPositions => Chunks * ChunkLength;

    /// <summary>Where rows that sit out a decode step write.</summary>
    public int ScratchPosition => Capacity;

    /// <summary>Bytes held on the device.</summary>
    public long SizeInBytes => _keys.Sum(k => k.NumberOfElements * k.ElementSize) * 2;

    /// <summary>Keys of a layer, [rows, kv heads, stored positions, head dim].</summary>
    public Tensor Keys(int layer) => _keys[layer];

    /// <summary>Values of a layer as stored, [chunks, rows, kv heads, chunk length, head dim].</summary>
    public Tensor ValueChunks(int layer) => _values[layer];

    /// <summary>Values of rows [row, row + count) for positions [0, length) in the usual [rows, kv heads, length, dim]
    /// layout (a copy).</summary>
    public Tensor ValuesOf(int layer, int row, int count, int length)
    {
        int chunks = (length + ChunkLength - 1) / ChunkLength;
        return _values[layer].narrow(0, 0, chunks).narrow(1, row, count).permute(1, 2, 0, 3, 4)
            .reshape(count, NumKvHeads, (long)chunks * ChunkLength, HeadDim).narrow(2, 0, length);
    }

    /// <summary>Decode-step machinery bound to these buffers (captured graphs, staging tensors); disposed here.
    /// </summary>
    internal IDisposable? Runner { get; set; }

    IDisposable? IBatchKvStorage.Runner { get => Runner; set => Runner = value; }

    /// <summary>One row as a cache of its own (batch 1, its own length): how a sequence is prefilled into its slot.
    /// </summary>
    public IKvCache RowCache(int row) => new KvRowsCache(this, [row]);

    (Tensor Logits, Tensor? ProbeRows) IBatchKvStorage.DecodeStep(LlamaModel model, Tensor tokenIds,
        Tensor positions, int keyLength, AttentionProbe? probe, HeadMask? headMask) =>
        model.DecodeStep(tokenIds, positions, this, keyLength, probe, headMask);

    /// <summary>
    /// Writes [count, kv heads, tokens, dim] at positions start.. of rows [row, row + count) and returns what those
    /// rows attend over. A write from position 0 attends over the new tensors themselves (nothing is read back).
    /// </summary>
    internal KvView Write(int layer, int row, Tensor keys, Tensor values, int startPosition)
    {
        long tokens = keys.shape[2], count = keys.shape[0];
        if (startPosition < 0 || startPosition + tokens > Capacity)
            throw new InvalidOperationException(
                $"Positions {startPosition}..{startPosition + tokens - 1} do not fit a KV cache of capacity "
                    + $"{Capacity}; create a larger cache.");
        var k = _keys[layer].narrow(0, row, count);
        k.narrow(2, startPosition, tokens).copy_(keys);
        WriteValues(layer, row, values, startPosition);
        long filled = startPosition + tokens;
        return startPosition == 0
            ? new KvView(keys, values)
            : new KvView(k.narrow(2, 0, filled), ValuesOf(layer, row, (int)count, (int)filled));
    }

    /// <summary>
    /// Copies [count, kv heads, tokens, dim] into the chunk-major value buffer: a partial first chunk, the whole
    /// chunks in one strided copy, a partial last chunk (at most three copies, no index arithmetic).
    /// </summary>
    private void WriteValues(int layer, int row, Tensor values, int startPosition)
    {
        long tokens = values.shape[2], count = values.shape[0], done = 0;
        var rows = _values[layer].narrow(1, row, count);                       // [chunks, count, kv heads, chunk, dim]
        while (done < tokens)
        {
            long position = startPosition + done, chunk = position / ChunkLength, offset = position % ChunkLength;
            long whole = offset == 0 ? (tokens - done) / ChunkLength : 0;
            if (whole > 0)
            {
                var source = values.narrow(2, done, whole * ChunkLength)
                    .view(count, NumKvHeads, whole, ChunkLength, HeadDim).permute(2, 0, 1, 3, 4);
                rows.narrow(0, chunk, whole).copy_(source);
                done += whole * ChunkLength;
            }
            else
            {
                long length = Math.Min(ChunkLength - offset, tokens - done);
                rows[chunk].narrow(2, offset, length).copy_(values.narrow(2, done, length));
                done += length;
            }
        }
    }

    public void Dispose()
    {
        Runner?.Dispose();
        Runner = null;
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}

using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Caches;

/// <summary>
/// Preallocated key/value buffers, one pair per layer, each [rows, kv heads, capacity + 1, head dim]: a row per
/// sequence, written in place. The extra last position is scratch: a row that sits out a batched decode step
/// writes there, so the step's shapes (and a captured CUDA graph) stay fixed while sequences come and go.
/// </summary>
public sealed class KvStorage : IDisposable
{
    private readonly Tensor[] _keys;
    private readonly Tensor[] _values;

    public KvStorage(int numLayers, int rows, int numKvHeads, int headDim, int capacity, ScalarType dtype, Device device)
    {
        Native.TorchRuntime.EnsureInitialized();
        if (capacity <= 0) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "Cache capacity must be positive.");
        if (rows <= 0) throw new ArgumentOutOfRangeException(nameof(rows), rows, "A cache needs at least one row (sequence).");
        (Rows, Capacity, NumKvHeads, HeadDim, DType, Device) = (rows, capacity, numKvHeads, headDim, dtype, device);
        _keys = new Tensor[numLayers];
        _values = new Tensor[numLayers];
        for (int i = 0; i < numLayers; i++)
        {
            _keys[i] = zeros([rows, numKvHeads, capacity + 1, headDim], dtype, device).DetachFromDisposeScope();
            _values[i] = zeros([rows, numKvHeads, capacity + 1, headDim], dtype, device).DetachFromDisposeScope();
        }
    }

    public int Rows { get; }

    /// <summary>Positions each row can hold (the scratch position not counted).</summary>
    public int Capacity { get; }

    public int NumKvHeads { get; }
    public int HeadDim { get; }
    public ScalarType DType { get; }
    public Device Device { get; }
    public int NumLayers => _keys.Length;

    /// <summary>Where rows that sit out a decode step write.</summary>
    public int ScratchPosition => Capacity;

    /// <summary>Bytes held on the device.</summary>
    public long SizeInBytes => _keys.Sum(k => k.NumberOfElements * k.ElementSize) * 2;

    /// <summary>Layer buffers, [rows, kv heads, capacity + 1, head dim].</summary>
    public Tensor Keys(int layer) => _keys[layer];

    public Tensor Values(int layer) => _values[layer];

    /// <summary>Decode-step machinery bound to these buffers (captured graphs, staging tensors); owned and disposed here.</summary>
    internal IDisposable? Runner { get; set; }

    /// <summary>Writes [rows, kv heads, tokens, dim] at positions start.. of rows [row, row + count).</summary>
    internal KvView Write(int layer, int row, Tensor keys, Tensor values, int startPosition)
    {
        long tokens = keys.shape[2], count = keys.shape[0];
        if (startPosition < 0 || startPosition + tokens > Capacity)
            throw new InvalidOperationException(
                $"Positions {startPosition}..{startPosition + tokens - 1} do not fit a KV cache of capacity {Capacity}; create a larger cache.");
        var k = _keys[layer].narrow(0, row, count);
        var v = _values[layer].narrow(0, row, count);
        k.narrow(2, startPosition, tokens).copy_(keys);
        v.narrow(2, startPosition, tokens).copy_(values);
        long filled = startPosition + tokens;
        return new KvView(k.narrow(2, 0, filled), v.narrow(2, 0, filled));
    }

    public void Dispose()
    {
        Runner?.Dispose();
        Runner = null;
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}

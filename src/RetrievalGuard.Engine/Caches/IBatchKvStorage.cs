using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Probes;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Caches;

/// <summary>
/// Preallocated KV storage with a row per sequence, decoded one token per row by the static step
/// (<see cref="Generation.DecodeRunner"/>: fixed shapes, CUDA graphs on a GPU). Each storage decodes itself, so the
/// path is chosen here, once, by the storage a cache or <see cref="Generation.BatchDecoder"/> holds:
/// <see cref="KvStorage"/> (every position of every KV head; fused kernels where the model has them) or
/// <see cref="HeadAwareKvStorage"/> (the compressed cache: full KV heads whole, the others sinks + a ring).
/// Rows that sit out a step write at <see cref="ScratchPosition"/>, so the step's shapes stay fixed.
/// </summary>
public interface IBatchKvStorage : IDisposable
{
    int Rows { get; }

    /// <summary>Positions each row can hold (scratch not counted).</summary>
    int Capacity { get; }

    /// <summary>Positions the key window of a step may span: capacity + scratch, in whole chunks.</summary>
    int StoredPositions { get; }

    /// <summary>Key windows are whole chunks of this many positions.</summary>
    int ChunkLength { get; }

    /// <summary>The position rows that sit out a step write at.</summary>
    int ScratchPosition => Capacity;

    Device Device { get; }

    /// <summary>Bytes held on the device: exactly the buffers.</summary>
    long SizeInBytes { get; }

    /// <summary>Row <paramref name="row"/> as a cache of its own (batch 1, from position 0): how a prompt is
    /// prefilled into it. Dispose it after use; the storage keeps the keys and values.</summary>
    IKvCache RowCache(int row);

    /// <summary>Decode-step machinery bound to these buffers (captured graphs, staging); disposed with them.</summary>
    internal IDisposable? Runner { get; set; }

    /// <summary>
    /// One token for every row: ids and positions [rows] on the device, keys over [0, keyLength). Returns logits
    /// [rows, vocab] and, with a probe, its heads' weights over positions [rows, probed heads, keyLength] (float32).
    /// </summary>
    internal (Tensor Logits, Tensor? ProbeRows) DecodeStep(LlamaModel model, Tensor tokenIds, Tensor positions,
        int keyLength, AttentionProbe? probe, HeadMask? headMask);
}

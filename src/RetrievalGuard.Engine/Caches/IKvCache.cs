using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Caches;

/// <summary>
/// Keys and values a layer attends over after an update. <see cref="Mask"/> is null when the positions are the
/// contiguous range 0..Length-1 (the model then applies the usual causal rule); a cache that drops or reorders
/// positions (the head-aware compressed cache) returns a boolean mask [queries, keys] or [heads, queries, keys]
/// (true = may attend) instead.
/// </summary>
/// <param name="Streaming">Set by the head-aware cache: then <see cref="Keys"/> and <see cref="Values"/> hold only
/// the KV heads kept full (contiguous positions), and the other heads attend over what this part holds.</param>
public readonly record struct KvView(Tensor Keys, Tensor Values, Tensor? Mask = null, StreamingKv? Streaming = null);

/// <summary>
/// The KV heads of a layer that keep only sinks and a recent window: their keys and values (ring, then the pass's
/// new tokens), each key's position (-1: empty slot) and which queries may see which key.
/// </summary>
/// <param name="FullHeads">KV head indices (int64) of the full part, in its order.</param>
/// <param name="StreamHeads">KV head indices (int64) of this part, in its order.</param>
/// <param name="Keys">[batch, streaming KV heads, keys, dim].</param>
/// <param name="Mask">Boolean [queries, keys].</param>
/// <param name="Positions">int64 [keys].</param>
public sealed record StreamingKv(Tensor FullHeads, Tensor StreamHeads, Tensor Keys, Tensor Values, Tensor Mask,
    Tensor Positions);

/// <summary>
/// Per-layer key/value storage for incremental decoding. Keys and values are [batch, kv heads, tokens, head dim],
/// already rotated. Implementations must not allocate per decode step beyond small views.
/// <para>
/// Generation decodes through the static step (fixed shapes, CUDA graphs) when the cache offers
/// <see cref="StaticDecodeStorage"/> (the full and the compressed cache of one sequence made by the model do); any
/// other cache decodes through the general forward pass, eagerly.
/// </para>
/// </summary>
public interface IKvCache : IDisposable
{
    int BatchSize { get; }

    /// <summary>The most positions this cache can hold.</summary>
    int Capacity { get; }

    /// <summary>Positions written and committed so far; the next token goes at this position.</summary>
    int Length { get; }

    /// <summary>
    /// Writes the new tokens' keys/values at <paramref name="startPosition"/> and returns what to attend over.
    /// </summary>
    KvView Update(int layer, Tensor keys, Tensor values, int startPosition);

    /// <summary>Called once per forward pass after every layer has been updated.</summary>
    void Commit(int length);

    /// <summary>Forgets positions from <paramref name="length"/> on (e.g. to re-answer from the same prompt).</summary>
    void Truncate(int length);

    /// <summary>
    /// The fixed-shape storage the static decode step (CUDA graphs, fused kernels) runs on, or null: generation then
    /// decodes through the general forward pass. The one place a cache says which decode path it takes.
    /// </summary>
    IBatchKvStorage? StaticDecodeStorage => null;
}

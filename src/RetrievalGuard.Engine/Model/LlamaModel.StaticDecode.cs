using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Native;
using RetrievalGuard.Engine.Probes;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Model;

// The static decode path: one token per row at device-side positions over a preallocated KvStorage, no host value
// depending on sequence lengths, so a step can be captured as a CUDA graph (Generation.DecodeRunner). DecodeStep is
// where a step picks its path: the fused CUDA kernels when this model has them (LlamaModel.FusedDecode.cs), else the
// libtorch operators below. The general path (prefill, chunked, probes over any cache) is forward in LlamaModel.cs.

public sealed partial class LlamaAttention
{
    /// <summary>
    /// One token per row for the static decode step: rows [rows, hidden] at device-side positions. Keys/values are
    /// written into the storage with an indexed put and attention reads a fixed [0, KeyLength) window under a
    /// per-row mask, so no shape or host value depends on the sequence lengths.
    /// </summary>
    internal Tensor DecodeStatic(Tensor x, DecodeContext ctx)
    {
        long rows = x.shape[0];
        int group = _heads / _kvHeads;
        var (qk, k, v) = ProjectOneToken(x, ctx.Cos, ctx.SinSigned);
        var keys = ctx.Storage.Keys(_layer);
        var values = ctx.Storage.ValueChunks(_layer);
        keys.index_put_(k, ctx.KeyWriteIndex);
        values.index_put_(v, ctx.ValueWriteIndex);
        long window = ctx.KeyLength, chunks = window / ctx.Storage.ChunkLength, heads = rows * _kvHeads;
        var k3 = keys.narrow(2, 0, window).reshape(heads, window, _headDim);
        float scale = (float)(1 / Math.Sqrt(_headDim));
        Tensor probs;
        if (ctx.Float32Scores)
        {
            // Scores kept in float32 (not rounded to bf16), as fused attention kernels keep them; scaling the query
            // is the copy its reshape needs anyway.
            var q3 = (qk.narrow(1, 0, _heads) * Scalars.Of(scale)).reshape(heads, group, _headDim);
            probs = AtenOps.BmmFloat32(q3, k3.transpose(1, 2)).add_(ctx.KeyBias, Scalars.One).softmax(-1);
        }
        else
        {
            // Scale and mask fused into the score product. libtorch's softmax accumulates in float32 for half types,
            // so a softmax in the model dtype equals transformers' eager softmax(float32).to(dtype), in one kernel.
            var q3 = qk.narrow(1, 0, _heads).reshape(heads, group, _headDim);
            probs = TorchSharpFixes.Baddbmm(ctx.KeyBias, q3, k3.transpose(1, 2), 1, scale).softmax(-1);
        }
        if (ctx.Probe is { } probe && probe.HasLayer(_layer))
            ctx.ProbeRows.Add(probs.view(rows, _heads, window)
                .index_select(1, probe.HeadIndexTensor(_layer, x.device))
                .to(float32)
                .MoveToOuterDisposeScope());
        probs = probs.to(values.dtype);
        // Weights × values as one product per (chunk, row, kv head), then summed over chunks: a split-K over the
        // window.
        var chunkedProbs = probs.view(heads, group, chunks, ctx.Storage.ChunkLength).permute(2, 0, 1, 3).contiguous()
            .view(chunks * heads, group, ctx.Storage.ChunkLength);
        var v3 = values.narrow(0, 0, chunks).view(chunks * heads, ctx.Storage.ChunkLength, _headDim);
        var output = bmm(chunkedProbs, v3).view(chunks, rows, _heads, _headDim).sum(dim: 0L, keepdim: false);
        if (ctx.HeadMask?.LayerMask(_layer, x.device, output.dtype) is { } mask)
            output = output * mask.view(1, _heads, 1);
        return o_proj.forward(output.view(rows, (long)_heads * _headDim));
    }
}

public sealed partial class LlamaAttention
{
    /// <summary>
    /// One token per row through the fused projection and RoPE: queries and keys rotated together
    /// [rows, heads + kv heads, dim] (queries first), the keys among them [rows, kv heads, dim], and the values.
    /// </summary>
    private (Tensor QueriesAndKeys, Tensor Keys, Tensor Values) ProjectOneToken(Tensor x, Tensor cos, Tensor sinSigned)
    {
        long rows = x.shape[0];
        var qkv = qkv_proj.forward(x);
        var qk = RotaryEmbedding.Apply(
            qkv.narrow(-1, 0, (long)(_heads + _kvHeads) * _headDim).view(rows, _heads + _kvHeads, _headDim),
            cos, sinSigned);
        var v = qkv.narrow(-1, (long)(_heads + _kvHeads) * _headDim, (long)_kvHeads * _headDim)
            .view(rows, _kvHeads, _headDim);
        return (qk, qk.narrow(1, _heads, _kvHeads), v);
    }
}

public sealed partial class LlamaDecoderLayer
{
    internal Tensor DecodeStatic(Tensor x, DecodeContext ctx) =>
        Block(x, normed => self_attn.DecodeStatic(normed, ctx));
}

public sealed partial class LlamaModel
{
    /// <summary>
    /// One decode step for rows [0, rows) of <paramref name="storage"/>, everything on the device: token ids and
    /// positions [rows] (int64; a row sitting out uses the storage's scratch position), attention over key positions
    /// [0, keyLength). No host synchronisation and no shape depends on the lengths, so the step can be captured as
    /// a CUDA graph and replayed (see Generation.DecodeRunner). Returns logits [rows, vocab] and, with a probe,
    /// the probed heads' attention [rows, probed heads, keyLength] (float32).
    /// </summary>
    internal (Tensor Logits, Tensor? ProbeRows) DecodeStep(Tensor tokenIds, Tensor positions, KvStorage storage,
        int keyLength, AttentionProbe? probe = null, HeadMask? headMask = null)
    {
        long rows = tokenIds.shape[0];
        CheckStep(rows, storage, keyLength);
        using var scope = NewDisposeScope();
        if (FusedKernels(out _) is { } kernels)
        {
            var (fusedLogits, fusedProbe) = DecodeStepFused(kernels, tokenIds, positions, storage, keyLength, probe,
                headMask);
            return (fusedLogits.MoveToOuterDisposeScope(), fusedProbe?.MoveToOuterDisposeScope());
        }
        var rowIndex = Scalars.Range(rows, positions.device);
        bool float32Scores = AtenOps.HasFloat32Bmm(positions.device, DType);
        var (cos, sinSigned) = _rotary.Tables(storage.StoredPositions);
        var ctx = new DecodeContext(storage, keyLength, probe, headMask)
        {
            Cos = cos.index_select(0, positions).unsqueeze(1),
            SinSigned = sinSigned.index_select(0, positions).unsqueeze(1),
            KeyWriteIndex = [TensorIndex.Tensor(rowIndex), TensorIndex.Colon, TensorIndex.Tensor(positions)],
            ValueWriteIndex =
            [
                TensorIndex.Tensor(positions.div(Scalars.Of(storage.ChunkLength), rounding_mode: RoundingMode.floor)),
                TensorIndex.Tensor(rowIndex),
                TensorIndex.Colon,
                TensorIndex.Tensor(positions.remainder(Scalars.Of(storage.ChunkLength))),
            ],
            KeyBias = KeyBias(positions, keyLength, storage.NumKvHeads, float32Scores ? float32 : DType),
            Float32Scores = float32Scores,
        };
        return RunLayers(tokenIds, layer => x => layer.DecodeStatic(x, ctx), ctx.ProbeRows);
    }

    /// <summary>
    /// The body of a static step: embeddings, every layer's <paramref name="step"/>, norm and head; logits [rows,
    /// vocab] and the probe's rows gathered over the layers (moved out of the caller's dispose scope).
    /// </summary>
    private (Tensor Logits, Tensor? ProbeRows) RunLayers(Tensor tokenIds,
        Func<LlamaDecoderLayer, Func<Tensor, Tensor>> step, List<Tensor> probeRows)
    {
        var x = embed_tokens.index_select(0, tokenIds);
        foreach (var layer in layers)
            x = step(layer)(x);
        var logits = lm_head.forward(norm.forward(x));
        var probed = probeRows.Count == 0 ? null : probeRows.Count == 1 ? probeRows[0] : cat(probeRows, 1);
        return (logits.MoveToOuterDisposeScope(), probed?.MoveToOuterDisposeScope());
    }
    /// <summary>What every static step needs: all rows of the storage, a key window of whole chunks.</summary>
    private static void CheckStep(long rows, IBatchKvStorage storage, int keyLength)
    {
        if (keyLength <= 0 || keyLength > storage.StoredPositions)
            throw new ArgumentOutOfRangeException(nameof(keyLength), keyLength,
                $"Key window must be 1..{storage.StoredPositions}.");
        if (rows != storage.Rows)
            throw new ArgumentException($"A decode step covers all {storage.Rows} rows of the storage, not {rows}.");
        if (keyLength % storage.ChunkLength != 0)
            throw new ArgumentException(
                $"Key window {keyLength} is not a whole number of {storage.ChunkLength}-position chunks.");
    }

    /// <summary>Rotary tables' version: static decode graphs made against older tables must be rebuilt.</summary>
    internal int RotaryVersion => _rotary.Version;
    /// <summary>
    /// Makes sure the rotary tables cover <paramref name="positions"/> (done before capturing a graph).
    /// </summary>
    internal void EnsureRotary(int positions) => _rotary.Tables(positions);
    /// <summary>
    /// [rows · kv heads, 1, keyLength] additive mask in the model dtype: 0 where a row may attend, −∞ elsewhere.
    /// </summary>
    private Tensor KeyBias(Tensor positions, int keyLength, int kvHeads, ScalarType dtype)
    {
        long rows = positions.shape[0];
        var keyPos = Scalars.Range(keyLength, positions.device).unsqueeze(0);
        var queryPos = positions.unsqueeze(1);
        var allowed = keyPos <= queryPos;
        if (Config.SlidingWindow is int w) allowed = allowed.logical_and(queryPos - keyPos < Scalars.Of(w));
        var bias = zeros([rows, keyLength], dtype: dtype, device: positions.device)
            .masked_fill(allowed.logical_not(), Scalars.NegativeInfinity);
        return bias.unsqueeze(1).expand(rows, kvHeads, keyLength).reshape(rows * kvHeads, 1, keyLength);
    }
}

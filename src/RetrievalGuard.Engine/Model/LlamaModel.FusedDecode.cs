using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Kernels;
using RetrievalGuard.Engine.Probes;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Model;

// The fused decode path on CUDA (Kernels/DecodeKernels.cu): residual add + RMSNorm, RoPE + cache write, split-key
// attention with its merge, and SwiGLU as single kernels, launched on libtorch's stream so CUDA graphs capture them.
// LlamaModel.DecodeStep (LlamaModel.StaticDecode.cs) takes this path whenever FusedKernels is not null.

public sealed partial class LlamaAttention
{
    /// <summary>
    /// The static decode step through the fused CUDA kernels: RoPE and the cache write in one kernel, attention as a
    /// split-key pass and a merge (raw scores and log-sum-exp of probed heads on the side), then o_proj.
    /// </summary>
    internal Tensor DecodeFused(Tensor x, FusedDecodeContext ctx)
    {
        var qkv = qkv_proj.forward(x);
        var storage = ctx.Storage;
        var (keys, values) = (storage.Keys(_layer), storage.ValueChunks(_layer));
        ctx.Kernels.RopeWrite(qkv, _heads, _kvHeads, ctx.Cos, ctx.SinSigned, ctx.Positions, keys, values,
            storage.StoredPositions, storage.ChunkLength);
        var slots = ctx.Probe is { } probe && probe.HasLayer(_layer) ? probe.SlotTensor(_layer, x.device) : null;
        var output = ctx.Kernels.Attend(qkv, _heads, _kvHeads, keys, values, ctx.Positions, storage.StoredPositions,
            storage.ChunkLength, ctx.KeyLength, _slidingWindow ?? 0, ctx.Work, slots,
            slots is null ? null : ctx.ProbeScores, slots is null ? null : ctx.ProbeLse);
        if (ctx.HeadMask?.LayerMask(_layer, x.device, output.dtype) is { } mask)
            output = (output.view(x.shape[0], _heads, _headDim) * mask.view(1, _heads, 1))
                .view(x.shape[0], (long)_heads * _headDim);
        return o_proj.forward(output);
    }
}

public sealed partial class LlamaMlp
{
    /// <summary>The same with SwiGLU as one fused kernel.</summary>
    internal Tensor DecodeFused(Tensor x, DecodeKernels kernels) =>
        down_proj.forward(kernels.SwiGlu(gate_up_proj.forward(x)));
}

public sealed partial class LlamaDecoderLayer
{
    /// <summary>
    /// The fused decode block: <paramref name="residual"/> [rows, hidden] is the residual stream, updated in place;
    /// <paramref name="pending"/> is the previous block's MLP output, not yet added (each add is fused into the next
    /// norm). Returns this block's MLP output, for the next block or the final norm to add.
    /// </summary>
    internal Tensor DecodeFused(Tensor residual, Tensor? pending, FusedDecodeContext ctx)
    {
        using var scope = NewDisposeScope();
        var kernels = ctx.Kernels;
        var attention = self_attn.DecodeFused(
            kernels.AddRmsNorm(residual, pending, input_layernorm.weight, input_layernorm.Eps), ctx);
        var normed = kernels.AddRmsNorm(residual, attention, post_attention_layernorm.weight,
            post_attention_layernorm.Eps);
        return mlp.DecodeFused(normed, kernels).MoveToOuterDisposeScope();
    }
}

public sealed partial class LlamaModel
{
    /// <summary>
    /// The fused CUDA decode kernels for this model (compiled once per process and shape), or null with the reason:
    /// not CUDA, no NVRTC, an unsupported shape, or RGUARD_FUSED_KERNELS=0. The decode step uses them when present.
    /// </summary>
    public DecodeKernels? FusedKernels(out string? reason) =>
        DecodeKernels.For(Device, DType, Config.HeadDim, Config.NumHeads / Config.NumKvHeads, out reason);
    private (Tensor Logits, Tensor? ProbeRows) DecodeStepFused(DecodeKernels kernels, Tensor tokenIds,
        Tensor positions, KvStorage storage, int keyLength, AttentionProbe? probe, HeadMask? headMask)
    {
        int rows = (int)tokenIds.shape[0];
        var (cos, sinSigned) = _rotary.Tables(storage.StoredPositions);
        int split = kernels.SplitLength(keyLength, rows, Config.NumKvHeads, storage.ChunkLength);
        var ctx = new FusedDecodeContext(storage, keyLength, positions, cos, sinSigned, kernels,
            kernels.CreateWorkspace(rows, Config.NumHeads, keyLength, split, positions.device), probe, headMask)
        {
            ProbeScores = probe is null
                ? null
                : empty([rows, probe.Count, keyLength], dtype: float32, device: positions.device),
            ProbeLse = probe is null ? null : empty([rows, probe.Count], dtype: float32, device: positions.device),
        };
        var residual = embed_tokens.index_select(0, tokenIds);
        Tensor? pending = null;
        foreach (var layer in layers)
            pending = layer.DecodeFused(residual, pending, ctx);
        var logits = lm_head.forward(kernels.AddRmsNorm(residual, pending, norm.weight, norm.Eps));
        // The probe's weights: exp(score − log-sum-exp), as the softmax the unfused step computes.
        var probeRows = ctx.ProbeScores is null ? null : ctx.ProbeScores.sub_(ctx.ProbeLse!.unsqueeze(-1)).exp_();
        return (logits, probeRows);
    }
}

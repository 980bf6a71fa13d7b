using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Kernels;
using RetrievalGuard.Engine.Native;
using RetrievalGuard.Engine.Probes;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace RetrievalGuard.Engine.Model;

// The decoder-only transformer of Llama, Mistral and Qwen2: RMSNorm, RoPE, grouped-query attention, SwiGLU.
// Q/K/V and gate/up projections are fused into one matrix each (fewer kernels per token); the checkpoint
// layout (separate q_proj, k_proj, …) is mapped in LlamaWeights. Module fields are named like HF's keys.

/// <summary>Root-mean-square norm computed in float32, cast back before the weight (as HF does).</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly double _eps;
    public readonly Parameter weight;

    public RmsNorm(long dim, double eps, ScalarType dtype, Device device) : base(nameof(RmsNorm))
    {
        _eps = eps;
        weight = new Parameter(ones(dim, dtype: dtype, device: device));
        RegisterComponents();
    }

    public double Eps => _eps;

    public override Tensor forward(Tensor x) =>
        // The fused libtorch operator is used only for inference: training keeps the composite's exact gradients.
        (!is_grad_enabled() ? Native.AtenOps.RmsNorm(x, weight, _eps, () => Composite(x)) : null) ?? Composite(x);

    private Tensor Composite(Tensor x)
    {
        using var scope = NewDisposeScope();
        var x32 = x.to(float32);
        var normed = x32 * rsqrt(x32.pow(Scalars.Of(2L)).mean([-1], keepdim: true).Plus(Scalars.Of(_eps)));
        return (weight * normed.to(x.dtype)).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// y = x·Wᵀ + b with uninitialised storage: loading fills it, so an 8B model is not randomly initialised first.
/// Training calls <see cref="LlamaModel.InitializeWeights"/>.
/// </summary>
public sealed class Dense : nn.Module<Tensor, Tensor>
{
    public Parameter weight;
    public Parameter? bias;

    public Dense(long inFeatures, long outFeatures, bool hasBias, ScalarType dtype, Device device) : base(nameof(Dense))
    {
        weight = new Parameter(empty([outFeatures, inFeatures], dtype: dtype, device: device));
        if (hasBias) bias = new Parameter(zeros(outFeatures, dtype: dtype, device: device));
        RegisterComponents();
    }

    /// <summary>A projection that uses an existing matrix (tied embeddings).</summary>
    public Dense(Parameter sharedWeight) : base(nameof(Dense))
    {
        weight = sharedWeight;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => F.linear(x, weight, bias);
}

/// <summary>Grouped-query self-attention with fused QKV.</summary>
public sealed partial class LlamaAttention : nn.Module
{
    private readonly int _layer, _heads, _kvHeads, _headDim;
    private readonly int? _slidingWindow;
    public readonly Dense qkv_proj;
    public readonly Dense o_proj;

    public LlamaAttention(ModelConfig c, int layer, ScalarType dtype, Device device) : base(nameof(LlamaAttention))
    {
        (_layer, _heads, _kvHeads, _headDim, _slidingWindow) =
            (layer, c.NumHeads, c.NumKvHeads, c.HeadDim, c.SlidingWindow);
        qkv_proj = new Dense(c.HiddenSize, (c.NumHeads + 2L * c.NumKvHeads) * c.HeadDim, c.AttentionBias, dtype,
            device);
        o_proj = new Dense((long)c.NumHeads * c.HeadDim, c.HiddenSize, false, dtype, device);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor cos, Tensor sinSigned, ForwardOptions options)
    {
        long batch = x.shape[0], tokens = x.shape[1];
        int start = options.StartPosition;
        var qkv = qkv_proj.forward(x);
        // RoPE on queries and keys together, [batch, tokens, heads + kv heads, dim], in three kernels.
        var qk = qkv.narrow(-1, 0, (long)(_heads + _kvHeads) * _headDim)
            .view(batch, tokens, _heads + _kvHeads, _headDim);
        qk = RotaryEmbedding.Apply(qk, cos.unsqueeze(1), sinSigned.unsqueeze(1));
        var q = qk.narrow(2, 0, _heads).transpose(1, 2);
        var k = qk.narrow(2, _heads, _kvHeads).transpose(1, 2);
        var v = qkv.narrow(-1, (long)(_heads + _kvHeads) * _headDim, (long)_kvHeads * _headDim)
            .view(batch, tokens, _kvHeads, _headDim)
            .transpose(1, 2);

        var kv = options.Cache?.Update(_layer, k, v, start) ?? new KvView(k, v);
        var output = kv.Streaming is { } streaming
            ? AttendSplit(q, kv, streaming, start, tokens)
            : Attend(q, kv, start, tokens);

        if (options.Probe is { } probe && probe.HasLayer(_layer))
            probe.Record(kv.Streaming is { } split
                ? ProbeWeightsSplit(q, kv, split, probe, start, tokens)
                : ProbeWeights(q, kv, probe, start, tokens));
        if (options.HeadMask?.LayerMask(_layer, x.device, output.dtype) is { } mask)
            output = output * mask;

        return o_proj.forward(output.transpose(1, 2).reshape(batch, tokens, (long)_heads * _headDim));
    }

    /// <summary>
    /// [batch, heads, tokens, headDim] attention output. Never copies the cache for GQA while decoding.
    /// </summary>
    private Tensor Attend(Tensor q, KvView kv, int start, long tokens)
    {
        long batch = q.shape[0], keys = kv.Keys.shape[2], kvHeads = kv.Keys.shape[1];
        int group = _heads / _kvHeads;
        bool windowBites = _slidingWindow is int w && keys > w;
        if (tokens == 1 && kv.Mask is null && !windowBites)
        {
            // One query per head: fold each KV group's query heads into the query axis, so every KV head is
            // read once and nothing is repeated (no mask needed: the newest token sees every position).
            var grouped = q.reshape(batch, kvHeads, group, _headDim);
            return F.scaled_dot_product_attention(grouped, kv.Keys, kv.Values)
                .reshape(batch, kvHeads * group, 1, _headDim);
        }
        var k = RepeatKv(kv.Keys, group);
        var v = RepeatKv(kv.Values, group);
        if (kv.Mask is null && start == 0 && keys == tokens && !windowBites)
            return F.scaled_dot_product_attention(q, k, v, is_casual: true);
        var allowed = kv.Mask ?? CausalMask(start, tokens, keys, q.device);
        return F.scaled_dot_product_attention(q, k, v, attn_mask: allowed);
    }

    /// <summary>
    /// Attention with the head-aware cache: the query heads of full KV heads attend over every position, those of
    /// streaming KV heads over their sinks, window and the new tokens; outputs go back to head order.
    /// </summary>
    private Tensor AttendSplit(Tensor q, KvView kv, StreamingKv streaming, int start, long tokens)
    {
        long batch = q.shape[0];
        int group = _heads / _kvHeads;
        var grouped = q.reshape(batch, _kvHeads, group, tokens, _headDim);
        var output = zeros([batch, _kvHeads, group, tokens, _headDim], q.dtype, q.device);
        if (kv.Keys.shape[1] > 0)
        {
            var fullQueries = grouped.index_select(1, streaming.FullHeads).reshape(batch, -1, tokens, _headDim);
            var full = Attend(fullQueries, kv with { Streaming = null }, start, tokens);
            output.index_copy_(1, streaming.FullHeads, full.reshape(batch, -1, group, tokens, _headDim));
        }
        var streamQueries = grouped.index_select(1, streaming.StreamHeads).reshape(batch, -1, tokens, _headDim);
        var attended = F.scaled_dot_product_attention(streamQueries, RepeatKv(streaming.Keys, group),
            RepeatKv(streaming.Values, group), attn_mask: StreamMask(streaming, start, tokens, tokens));
        output.index_copy_(1, streaming.StreamHeads, attended.reshape(batch, -1, group, tokens, _headDim));
        return output.view(batch, _heads, tokens, _headDim);
    }

    /// <summary>
    /// The streaming keys' mask for the last <paramref name="n"/> queries, with the model's own window.
    /// </summary>
    private Tensor StreamMask(StreamingKv streaming, int start, long tokens, long n)
    {
        var allowed = streaming.Mask.narrow(0, tokens - n, n);
        if (_slidingWindow is not int w)
            return allowed;
        var queries = Scalars.Range(start + tokens - n, start + tokens, allowed.device).unsqueeze(1);
        return allowed.logical_and(queries - streaming.Positions.unsqueeze(0) < Scalars.Of(w));
    }

    /// <summary>
    /// Boolean [tokens, keys]: query i (at position start+i) may see key j when j ≤ start+i and within the window.
    /// </summary>
    private Tensor CausalMask(int start, long tokens, long keys, Device device)
    {
        var queryPos = Scalars.Range(start, start + tokens, device).unsqueeze(1);
        var keyPos = Scalars.Range(keys, device).unsqueeze(0);
        var allowed = keyPos <= queryPos;
        if (_slidingWindow is int w) allowed = allowed.logical_and(queryPos - keyPos < Scalars.Of(w));
        return allowed;
    }

    /// <summary>
    /// Attention of the probed heads' newest queries over all keys. Scores come from one grouped matmul of the newest
    /// queries against each KV head's keys as stored (no copy of the cache, whatever the context length); only the
    /// probed heads' rows are then kept, scaled, masked and normalised in float32.
    /// </summary>
    private Tensor ProbeWeights(Tensor q, KvView kv, AttentionProbe probe, int start, long tokens)
    {
        long n = Math.Min(probe.QueryTokens, tokens), batch = q.shape[0], keys = kv.Keys.shape[2];
        int group = _heads / _kvHeads;
        var heads = probe.HeadIndexTensor(_layer, q.device);
        var newest = q.narrow(2, tokens - n, n).reshape(batch, _kvHeads, group * n, _headDim);  // [B, KV, G·n, D]
        var scores = matmul(newest, kv.Keys.transpose(-1, -2)).reshape(batch, _heads, n, keys)  // [B, H, n, L]
            .index_select(1, heads).to(float32) / Scalars.Of(Math.Sqrt(_headDim));              // [B, P, n, L]
        var allowed = kv.Mask is null
            ? CausalMask(start + (int)(tokens - n), n, keys, q.device)
            : ProbeRows(kv.Mask, heads, tokens - n, n);
        return scores.masked_fill(allowed.logical_not(), Scalars.NegativeInfinity).softmax(-1);
    }

    /// <summary>
    /// <see cref="ProbeWeights"/> with the head-aware cache: weights over every position [B, P, n, start + tokens],
    /// a streaming head's spread from its ring slots to the positions they hold (zero elsewhere).
    /// </summary>
    private Tensor ProbeWeightsSplit(Tensor q, KvView kv, StreamingKv streaming, AttentionProbe probe, int start,
        long tokens)
    {
        long n = Math.Min(probe.QueryTokens, tokens), batch = q.shape[0], length = start + tokens;
        int group = _heads / _kvHeads;
        var newest = q.narrow(2, tokens - n, n).reshape(batch, _kvHeads, group * n, _headDim);      // [B, KV, G·n, D]
        var weights = zeros([batch, _heads, n, length], float32, q.device);
        var scale = Scalars.Of(1 / Math.Sqrt(_headDim));
        if (kv.Keys.shape[1] > 0)
        {
            var scores = matmul(newest.index_select(1, streaming.FullHeads), kv.Keys.transpose(-1, -2))
                .reshape(batch, -1, n, length).to(float32) * scale;
            var full = scores.masked_fill(CausalMask(start + (int)(tokens - n), n, length, q.device).logical_not(),
                Scalars.NegativeInfinity).softmax(-1);
            weights.index_copy_(1, QueryHeads(streaming.FullHeads, group), full);
        }
        var streamScores = matmul(newest.index_select(1, streaming.StreamHeads), streaming.Keys.transpose(-1, -2))
            .reshape(batch, -1, n, streaming.Keys.shape[2]).to(float32) * scale;
        var probs = streamScores.masked_fill(StreamMask(streaming, start, tokens, n).logical_not(),
            Scalars.NegativeInfinity).softmax(-1);
        // Empty slots (position -1) carry zero weight; send them to position 0 so the scatter stays in range.
        var at = streaming.Positions.clamp_min(Scalars.Of(0L)).expand(probs.shape);
        var spread = zeros([batch, probs.shape[1], n, length], float32, q.device).scatter_add_(3, at, probs);
        weights.index_copy_(1, QueryHeads(streaming.StreamHeads, group), spread);
        return weights.index_select(1, probe.HeadIndexTensor(_layer, q.device));
    }

    /// <summary>The query heads (int64) of KV heads <paramref name="kvHeads"/>, in that order.</summary>
    private static Tensor QueryHeads(Tensor kvHeads, int group) =>
        (kvHeads.unsqueeze(1) * Scalars.Of(group)).Plus(Scalars.Range(group, kvHeads.device)).flatten();

    private static Tensor ProbeRows(Tensor mask, Tensor heads, long from, long n) =>
        mask.dim() == 3 ? mask.index_select(0, heads).narrow(1, from, n) : mask.narrow(0, from, n);

    private static Tensor RepeatKv(Tensor x, int group)
    {
        if (group == 1) return x;
        long b = x.shape[0], h = x.shape[1], l = x.shape[2], d = x.shape[3];
        return x.unsqueeze(2).expand(b, h, group, l, d).reshape(b, h * group, l, d);
    }
}

/// <summary>SwiGLU feed-forward with fused gate/up.</summary>
public sealed partial class LlamaMlp : nn.Module<Tensor, Tensor>
{
    private readonly long _intermediate;
    public readonly Dense gate_up_proj;
    public readonly Dense down_proj;

    public LlamaMlp(ModelConfig c, ScalarType dtype, Device device) : base(nameof(LlamaMlp))
    {
        _intermediate = c.IntermediateSize;
        gate_up_proj = new Dense(c.HiddenSize, 2L * c.IntermediateSize, false, dtype, device);
        down_proj = new Dense(c.IntermediateSize, c.HiddenSize, false, dtype, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var gateUp = gate_up_proj.forward(x);
        return down_proj.forward(
            F.silu(gateUp.narrow(-1, 0, _intermediate)) * gateUp.narrow(-1, _intermediate, _intermediate));
    }
}

public sealed partial class LlamaDecoderLayer : nn.Module
{
    public readonly RmsNorm input_layernorm;
    public readonly LlamaAttention self_attn;
    public readonly RmsNorm post_attention_layernorm;
    public readonly LlamaMlp mlp;

    public LlamaDecoderLayer(ModelConfig c, int layer, ScalarType dtype, Device device)
        : base(nameof(LlamaDecoderLayer))
    {
        input_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps, dtype, device);
        self_attn = new LlamaAttention(c, layer, dtype, device);
        post_attention_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps, dtype, device);
        mlp = new LlamaMlp(c, dtype, device);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor cos, Tensor sinSigned, ForwardOptions options) =>
        Block(x, normed => self_attn.forward(normed, cos, sinSigned, options));

    /// <summary>Pre-norm residual block around either attention path.</summary>
    private Tensor Block(Tensor x, Func<Tensor, Tensor> attention)
    {
        // A scope per layer frees each layer's temporaries at once: a long prefill keeps one layer's worth alive.
        using var scope = NewDisposeScope();
        var h = x.Plus(attention(input_layernorm.forward(x)));
        return h.Plus(mlp.forward(post_attention_layernorm.forward(h))).MoveToOuterDisposeScope();
    }
}

/// <summary>The whole causal LM. Construct empty with <see cref="LlamaModel(ModelConfig, ScalarType, Device)"/>
/// and fill from a checkpoint with <see cref="LlamaWeights"/>; not thread-safe (one forward at a time).</summary>
public sealed partial class LlamaModel : nn.Module
{
    private readonly RotaryEmbedding _rotary;
    public readonly Parameter embed_tokens;
    public readonly ModuleList<LlamaDecoderLayer> layers;
    public readonly RmsNorm norm;
    public readonly Dense lm_head;

    public LlamaModel(ModelConfig config, ScalarType dtype, Device device) : base(nameof(LlamaModel))
    {
        TorchRuntime.EnsureInitialized();
        Config = config;
        DType = dtype;
        Device = device;
        embed_tokens = new Parameter(empty([config.VocabSize, config.HiddenSize], dtype: dtype, device: device));
        layers = new ModuleList<LlamaDecoderLayer>(Enumerable.Range(0, config.NumLayers)
            .Select(i => new LlamaDecoderLayer(config, i, dtype, device))
            .ToArray());
        norm = new RmsNorm(config.HiddenSize, config.RmsNormEps, dtype, device);
        // Tied: the output projection is the embedding matrix itself (one parameter, two uses).
        lm_head = config.TieWordEmbeddings
            ? new Dense(embed_tokens)
            : new Dense(config.HiddenSize, config.VocabSize, false, dtype, device);
        RegisterComponents();
        _rotary = new RotaryEmbedding(config, device, dtype);
    }

    public ModelConfig Config { get; }
    public ScalarType DType { get; }
    public Device Device { get; }

    /// <summary>
    /// Runs <paramref name="tokens"/> [batch, tokens] (int64) at positions StartPosition.. and returns logits
    /// [batch, kept tokens, vocab] in the model dtype. With a cache, keys/values are written to it and it is
    /// committed to StartPosition + tokens.
    /// </summary>
    public Tensor forward(Tensor tokens, ForwardOptions? options = null)
    {
        options ??= new ForwardOptions();
        if (tokens.dim() != 2)
            throw new ArgumentException($"tokens must be [batch, tokens], got [{string.Join(", ", tokens.shape)}].");
        long count = tokens.shape[1];
        if (options.Cache is { } c && options.StartPosition != c.Length)
            throw new ArgumentException($"StartPosition {options.StartPosition} does not continue the cache "
                + $"(length {c.Length}); truncate the cache first.");
        using var scope = NewDisposeScope();
        options.Probe?.BeginPass();
        var (cos, sinSigned) = _rotary.Slice(options.StartPosition, count);
        var x = embed_tokens.index_select(0, tokens.flatten()).view(tokens.shape[0], count, Config.HiddenSize);
        foreach (var layer in layers)
            x = layer.forward(x, cos, sinSigned, options);
        if (options.LogitsToKeep > 0 && options.LogitsToKeep < count)
            x = x.narrow(1, count - options.LogitsToKeep, options.LogitsToKeep);
        var logits = lm_head.forward(norm.forward(x));
        options.Probe?.EndPass();
        options.Cache?.Commit(options.StartPosition + (int)count);
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>A full cache for this model on its device.</summary>
    public StaticKvCache CreateCache(int capacity, int batchSize = 1) =>
        new(Config.NumLayers, batchSize, Config.NumKvHeads, Config.HeadDim, capacity, DType, Device);

    /// <summary>A cache under <paramref name="policy"/>: the full cache, or the head-aware compressed one.</summary>
    public IKvCache CreateCache(KvCachePolicy policy, int capacity, int batchSize = 1) => policy.Kind == CacheKind.Full
        ? CreateCache(capacity, batchSize)
        : batchSize == 1
            ? HeadAwareKvCache.WithStaticDecode(Config, policy, capacity, DType, Device)
            : new HeadAwareKvCache(Config, policy, capacity, DType, Device, batchSize);

    public AttentionProbe CreateProbe(IEnumerable<HeadIndex> heads, int queryTokens = 1) =>
        new(heads, Config.NumLayers, Config.NumHeads, queryTokens);

    public HeadMask CreateHeadMask(IEnumerable<HeadIndex> zeroedHeads) =>
        new(zeroedHeads, Config.NumLayers, Config.NumHeads);

    /// <summary>
    /// Hugging Face's initialisation (normal, std 0.02; norms 1; biases 0), seeded, for training from scratch.
    /// </summary>
    public void InitializeWeights(long seed, double std = 0.02)
    {
        using var noGrad = no_grad();
        // A generator of our own, seeded as torch.manual_seed would seed the default one (the same draws), so that
        // models built at once on other threads cannot interleave their draws with ours. It lives on the CPU
        // (TorchSharp makes CPU generators only; CUDA's normal_ refuses them), so every device starts from the same
        // weights: draw there, then copy.
        using var generator = new Generator((ulong)seed, CPU);
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("norm.weight", StringComparison.Ordinal)) p.fill_(Scalars.One);
            else if (name.EndsWith(".bias", StringComparison.Ordinal)) p.zero_();
            else if (p.device.type == DeviceType.CPU) p.normal_(0, std, generator);
            else
            {
                using var draws = empty(p.shape, p.dtype, CPU).normal_(0, std, generator);
                p.copy_(draws);
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _rotary.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>
/// What every layer of one static decode step shares: storage, positions' rotary rows, write index and mask.
/// </summary>
internal sealed class DecodeContext(KvStorage storage, int keyLength, AttentionProbe? probe, HeadMask? headMask)
{
    public KvStorage Storage { get; } = storage;
    public int KeyLength { get; } = keyLength;
    public AttentionProbe? Probe { get; } = probe;
    public HeadMask? HeadMask { get; } = headMask;
    public required Tensor Cos { get; init; }        // [rows, 1, headDim]
    public required Tensor SinSigned { get; init; }  // [rows, 1, headDim]
    public required TensorIndex[] KeyWriteIndex { get; init; }   // [row, :, position] → [rows, kv heads, dim]
    public required TensorIndex[] ValueWriteIndex { get; init; } // [chunk, row, :, offset] → [rows, kv heads, dim]
    public required Tensor KeyBias { get; init; }    // [rows · kv heads, 1, keyLength], in the scores' dtype
    public bool Float32Scores { get; init; }
    public List<Tensor> ProbeRows { get; } = new();
}

/// <summary>
/// What every layer of one fused decode step shares: storage, positions, rotary tables, kernels and scratch.
/// </summary>
internal sealed class FusedDecodeContext(KvStorage storage, int keyLength, Tensor positions, Tensor cos,
    Tensor sinSigned, DecodeKernels kernels, DecodeKernels.Workspace work, AttentionProbe? probe, HeadMask? headMask)
{
    public KvStorage Storage { get; } = storage;
    public int KeyLength { get; } = keyLength;
    public Tensor Positions { get; } = positions;   // [rows] int64
    public Tensor Cos { get; } = cos;               // [stored positions, headDim], the whole table
    public Tensor SinSigned { get; } = sinSigned;
    public DecodeKernels Kernels { get; } = kernels;
    public DecodeKernels.Workspace Work { get; } = work;
    public AttentionProbe? Probe { get; } = probe;
    public HeadMask? HeadMask { get; } = headMask;
    public Tensor? ProbeScores { get; init; }       // [rows, probe heads, keyLength] float32: raw scores, then weights
    public Tensor? ProbeLse { get; init; }          // [rows, probe heads] float32
}

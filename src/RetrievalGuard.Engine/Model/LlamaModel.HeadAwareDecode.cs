using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Native;
using RetrievalGuard.Engine.Probes;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Model;

// The static decode step over the head-aware compressed cache (HeadAwareKvStorage): one token per row at
// device-side positions, every row with its own length (continuous batching). Each layer writes the new key and
// value into the full part at the row's position and into the ring at the row's slot, then attends in two groups:
// the query heads of full KV heads over the key window [0, keyLength), those of streaming KV heads over their ring
// (sinks + window). No shape or host value depends on the lengths, so the step is CUDA-graph capturable like the
// full cache's (LlamaModel.StaticDecode.cs).

public sealed partial class LlamaAttention
{
    internal Tensor DecodeHeadAware(Tensor x, HeadAwareDecodeContext ctx)
    {
        long rows = x.shape[0];
        int group = _heads / _kvHeads;
        var (qk, k, v) = ProjectOneToken(x, ctx.Cos, ctx.SinSigned);
        var q = qk.narrow(1, 0, _heads).reshape(rows, _kvHeads, group, _headDim);
        var output = empty([rows, _kvHeads, group, _headDim], q.dtype, q.device); // each KV head: one part writes it
        var weights = ctx.Probe is { } probe && probe.HasLayer(_layer)
            ? zeros([rows, _kvHeads, group, ctx.KeyLength], float32, x.device)
            : null;
        var storage = ctx.Storage;
        if (storage.Full(_layer) is { } full)
            AttendPart(q, k, v, (full.Keys, full.Values, storage.FullHeads(_layer)), ctx.FullWriteIndex, ctx.KeyBias,
                ctx.KeyLength, output, weights, slotPositions: null);
        if (storage.Ring(_layer) is { } ring)
            AttendPart(q, k, v, (ring.Keys, ring.Values, storage.StreamHeads(_layer)), ctx.RingWriteIndex,
                ctx.RingBias, storage.RingLength + 1, output, weights, ctx.SlotPositions);
        if (weights is not null)
            ctx.ProbeRows.Add(weights.view(rows, _heads, ctx.KeyLength)
                .index_select(1, ctx.Probe!.HeadIndexTensor(_layer, x.device))
                .MoveToOuterDisposeScope());
        var attended = output.view(rows, _heads, _headDim);
        if (ctx.HeadMask?.LayerMask(_layer, x.device, attended.dtype) is { } mask)
            attended = attended * mask.view(1, _heads, 1);
        return o_proj.forward(attended.reshape(rows, (long)_heads * _headDim));
    }

    /// <summary>
    /// One part (full or ring) of a layer: writes the rows' new keys and values at <paramref name="writeIndex"/>,
    /// attends its query heads over the first <paramref name="keyCount"/> slots under <paramref name="bias"/>
    /// ([rows, 1, keys], 0 or −∞) and puts the result in <paramref name="output"/>; with a probe, the weights go to
    /// <paramref name="weights"/> by position (a ring's slots spread to the positions they hold).
    /// </summary>
    private void AttendPart(Tensor q, Tensor k, Tensor v, (Tensor Keys, Tensor Values, Tensor KvHeads) part,
        TensorIndex[] writeIndex, Tensor bias, long keyCount, Tensor output, Tensor? weights, Tensor? slotPositions)
    {
        var (keys, values, kvHeads) = part;
        long rows = q.shape[0], heads = kvHeads.shape[0], n = rows * heads;
        int group = _heads / _kvHeads;
        keys.index_put_(k.index_select(1, kvHeads), writeIndex);
        values.index_put_(v.index_select(1, kvHeads), writeIndex);
        var q3 = q.index_select(1, kvHeads).reshape(n, group, _headDim);
        var k3 = keys.narrow(2, 0, keyCount).reshape(n, keyCount, _headDim);
        var v3 = values.narrow(2, 0, keyCount).reshape(n, keyCount, _headDim);
        var b = bias.unsqueeze(1).expand(rows, heads, 1, keyCount).reshape(n, 1, keyCount);
        var probs = TorchSharpFixes.Baddbmm(b, q3, k3.transpose(1, 2), 1, (float)(1 / Math.Sqrt(_headDim))).softmax(-1);
        output.index_copy_(1, kvHeads, bmm(probs, v3).view(rows, heads, group, _headDim));
        if (weights is null)
            return;
        var p = probs.view(rows, heads, group, keyCount).to(float32);
        if (slotPositions is null)
        {
            weights.index_copy_(1, kvHeads, p);
            return;
        }
        var at = slotPositions.view(rows, 1, 1, keyCount).expand(rows, heads, group, keyCount);
        var spread = zeros([rows, heads, group, weights.shape[3]], float32, q.device).scatter_add_(3, at, p);
        weights.index_copy_(1, kvHeads, spread);
    }
}

public sealed partial class LlamaDecoderLayer
{
    internal Tensor DecodeHeadAware(Tensor x, HeadAwareDecodeContext ctx) =>
        Block(x, normed => self_attn.DecodeHeadAware(normed, ctx));
}

public sealed partial class LlamaModel
{
    /// <summary>
    /// <see cref="DecodeStep"/> over the head-aware compressed cache: the same inputs and outputs, every row of
    /// <paramref name="storage"/> at its own position (scratch for rows that sit out).
    /// </summary>
    internal (Tensor Logits, Tensor? ProbeRows) DecodeStepHeadAware(Tensor tokenIds, Tensor positions,
        HeadAwareKvStorage storage, int keyLength, AttentionProbe? probe = null, HeadMask? headMask = null)
    {
        CheckStep(tokenIds.shape[0], storage, keyLength);
        using var scope = NewDisposeScope();
        var rowIndex = Scalars.Range(tokenIds.shape[0], positions.device);
        var (cos, sinSigned) = _rotary.Tables(storage.StoredPositions);
        var (slotPositions, writeSlots) = RingLayout(positions, storage);
        var held = slotPositions >= Scalars.Of(0L);
        if (Config.SlidingWindow is int w)
            held = held.logical_and(positions.unsqueeze(1) - slotPositions < Scalars.Of(w));
        var ctx = new HeadAwareDecodeContext(storage, keyLength, probe, headMask)
        {
            Cos = cos.index_select(0, positions).unsqueeze(1),
            SinSigned = sinSigned.index_select(0, positions).unsqueeze(1),
            FullWriteIndex = [TensorIndex.Tensor(rowIndex), TensorIndex.Colon, TensorIndex.Tensor(positions)],
            RingWriteIndex = [TensorIndex.Tensor(rowIndex), TensorIndex.Colon, TensorIndex.Tensor(writeSlots)],
            KeyBias = KeyBias(positions, keyLength, 1, DType),
            RingBias = zeros(held.shape, DType, held.device)
                .masked_fill(held.logical_not(), Scalars.NegativeInfinity).unsqueeze(1),
            SlotPositions = slotPositions.clamp(Scalars.Of(0L), Scalars.Of(keyLength - 1)),
        };
        return RunLayers(tokenIds, layer => x => layer.DecodeHeadAware(x, ctx), ctx.ProbeRows);
    }

    /// <summary>
    /// For each row writing at position p: the position every ring slot holds afterwards (−1: empty, and for the
    /// scratch slot), [rows, ring + 1], and the slot p goes to ([rows]; the scratch slot for rows sitting out).
    /// </summary>
    private static (Tensor SlotPositions, Tensor WriteSlots) RingLayout(Tensor positions, HeadAwareKvStorage storage)
    {
        var slotPositions = cat([HeadAwareKvStorage.SlotPositions(positions, storage.Policy, storage.RingLength),
            full([positions.shape[0], 1], Scalars.Of(-1L), dtype: int64, device: positions.device)], 1);
        var writeSlots = HeadAwareKvStorage.SlotOf(positions, storage.Policy)
            .masked_fill(positions >= Scalars.Of(storage.ScratchPosition), Scalars.Of(storage.RingLength));
        return (slotPositions, writeSlots);
    }
}

/// <summary>What every layer of one head-aware static decode step shares.</summary>
internal sealed class HeadAwareDecodeContext(HeadAwareKvStorage storage, int keyLength, AttentionProbe? probe,
    HeadMask? headMask)
{
    public HeadAwareKvStorage Storage { get; } = storage;
    public int KeyLength { get; } = keyLength;
    public AttentionProbe? Probe { get; } = probe;
    public HeadMask? HeadMask { get; } = headMask;
    public required Tensor Cos { get; init; }                     // [rows, 1, headDim]
    public required Tensor SinSigned { get; init; }               // [rows, 1, headDim]
    public required TensorIndex[] FullWriteIndex { get; init; }   // [row, :, position]
    public required TensorIndex[] RingWriteIndex { get; init; }   // [row, :, slot]
    public required Tensor KeyBias { get; init; }                 // [rows, 1, keyLength]: 0 or −∞
    public required Tensor RingBias { get; init; }                // [rows, 1, ring + 1]: 0 or −∞
    public required Tensor SlotPositions { get; init; }           // [rows, ring + 1]: positions, clamped into range
    public List<Tensor> ProbeRows { get; } = new();
}

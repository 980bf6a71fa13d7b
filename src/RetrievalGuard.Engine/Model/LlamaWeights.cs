using RetrievalGuard.Engine.Checkpoints;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Model;

/// <summary>
/// Maps Hugging Face's checkpoint layout (model.layers.N.self_attn.q_proj.weight, …) onto the engine's fused
/// parameters, in both directions. Tensors are copied one at a time, converted to the model dtype on the host
/// and then moved, so loading never holds a second full copy of the model.
/// </summary>
public static class LlamaWeights
{
    private static readonly string[] Ignorable = ["rotary_emb.inv_freq"];

    /// <summary>
    /// One Hugging Face tensor: its name, the shape config.json implies, and where it lives in the engine's network —
    /// rows [<see cref="RowOffset"/>, + Shape[0]) of a (possibly fused) parameter.
    /// </summary>
    private sealed record Slot(string Name, long[] Shape, Func<LlamaModel, Tensor> Parameter, long RowOffset = 0);

    /// <summary>The Hugging Face layout of a model with <paramref name="c"/>: the one list load, export and the
    /// pre-load shape check all read.</summary>
    private static IEnumerable<Slot> Layout(ModelConfig c)
    {
        long h = c.HiddenSize, q = (long)c.NumHeads * c.HeadDim, kv = (long)c.NumKvHeads * c.HeadDim;
        long inner = c.IntermediateSize, vocab = c.VocabSize;
        yield return new("model.embed_tokens.weight", [vocab, h], m => m.embed_tokens);
        for (int i = 0; i < c.NumLayers; i++)
        {
            int layer = i;
            string p = $"model.layers.{i}.";
            Tensor Qkv(LlamaModel m) => m.layers[layer].self_attn.qkv_proj.weight;
            Tensor QkvBias(LlamaModel m) => m.layers[layer].self_attn.qkv_proj.bias!;
            Tensor GateUp(LlamaModel m) => m.layers[layer].mlp.gate_up_proj.weight;
            yield return new(p + "self_attn.q_proj.weight", [q, h], Qkv);
            yield return new(p + "self_attn.k_proj.weight", [kv, h], Qkv, q);
            yield return new(p + "self_attn.v_proj.weight", [kv, h], Qkv, q + kv);
            if (c.AttentionBias)
            {
                yield return new(p + "self_attn.q_proj.bias", [q], QkvBias);
                yield return new(p + "self_attn.k_proj.bias", [kv], QkvBias, q);
                yield return new(p + "self_attn.v_proj.bias", [kv], QkvBias, q + kv);
            }
            yield return new(p + "self_attn.o_proj.weight", [h, q], m => m.layers[layer].self_attn.o_proj.weight);
            yield return new(p + "mlp.gate_proj.weight", [inner, h], GateUp);
            yield return new(p + "mlp.up_proj.weight", [inner, h], GateUp, inner);
            yield return new(p + "mlp.down_proj.weight", [h, inner], m => m.layers[layer].mlp.down_proj.weight);
            yield return new(p + "input_layernorm.weight", [h], m => m.layers[layer].input_layernorm.weight);
            yield return new(p + "post_attention_layernorm.weight", [h],
                m => m.layers[layer].post_attention_layernorm.weight);
        }
        yield return new("model.norm.weight", [h], m => m.norm.weight);
        if (!c.TieWordEmbeddings)
            yield return new("lm_head.weight", [vocab, h], m => m.lm_head.weight);
    }

    /// <summary>
    /// Fills <paramref name="model"/> from <paramref name="source"/>; every parameter must be present with the right
    /// shape.
    /// </summary>
    public static void Load(LlamaModel model, ITensorSource source)
    {
        var c = model.Config;
        var used = new HashSet<string>(StringComparer.Ordinal);
        using var noGrad = no_grad();
        foreach (var slot in Layout(c))
        {
            CheckShape(source, slot.Name, slot.Shape);
            using var scope = NewDisposeScope();
            var target = slot.Parameter(model).narrow(0, slot.RowOffset, slot.Shape[0]);
            target.copy_(source.Read(slot.Name).to(target.dtype));
            used.Add(slot.Name);
        }

        var unexpected = source.Names
            .Where(n => !used.Contains(n) && !Ignorable.Any(i => n.EndsWith(i, StringComparison.Ordinal)))
            .Where(n => !(c.TieWordEmbeddings && n == "lm_head.weight"))
            .ToList();
        if (unexpected.Count > 0)
            throw new InvalidDataException(
                $"{source.Location}: {unexpected.Count} tensor(s) that a {c.Architecture} with this config.json " +
                "does not have, e.g. " +
                string.Join(", ", unexpected.Take(5)) + ". Is config.json from another model?");
    }

    /// <summary>
    /// The model's weights under Hugging Face names (fused matrices split), as CPU tensors in <paramref name="dtype"/>.
    /// </summary>
    public static IEnumerable<KeyValuePair<string, Tensor>> ExportHuggingFace(LlamaModel model, ScalarType dtype) =>
        Layout(model.Config).Select(slot => KeyValuePair.Create(slot.Name, slot.Parameter(model).detach()
            .narrow(0, slot.RowOffset, slot.Shape[0]).to(dtype).cpu().contiguous()));

    /// <summary>
    /// Checks, from <paramref name="config"/> alone, that <paramref name="source"/> has every tensor a network of that
    /// shape reads, with its shape: run before the network is made, so that a config.json with a huge or mistyped
    /// dimension is refused by name instead of failing in libtorch's allocator (it asked for terabytes).
    /// </summary>
    public static void CheckShapes(ModelConfig config, ITensorSource source)
    {
        foreach (var slot in Layout(config))
            CheckShape(source, slot.Name, slot.Shape);
    }

    private static void CheckShape(ITensorSource source, string name, long[] expected)
    {
        if (!source.Contains(name))
            // config.json named too: it may be the file at fault (more layers than the weights have).
            throw new InvalidDataException(
                $"{source.Location}: tensor '{name}' is missing from the checkpoint (config.json implies it).");
        long[] stored = source.ShapeOf(name);
        if (!stored.SequenceEqual(expected))
            throw new InvalidDataException(
                $"{source.Location}: tensor '{name}' has shape [{string.Join(", ", stored)}], "
                + $"but config.json implies [{string.Join(", ", expected)}].");
    }
}

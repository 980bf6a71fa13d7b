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

    /// <summary>Fills <paramref name="model"/> from <paramref name="source"/>; every parameter must be present with the right shape.</summary>
    public static void Load(LlamaModel model, ITensorSource source)
    {
        var c = model.Config;
        var used = new HashSet<string>(StringComparer.Ordinal);
        using var noGrad = no_grad();

        Copy(source, "model.embed_tokens.weight", model.embed_tokens, 0, used);
        for (int i = 0; i < c.NumLayers; i++)
        {
            var layer = model.layers[i];
            string p = $"model.layers.{i}.";
            long q = (long)c.NumHeads * c.HeadDim, kv = (long)c.NumKvHeads * c.HeadDim;
            var qkv = layer.self_attn.qkv_proj;
            Copy(source, p + "self_attn.q_proj.weight", qkv.weight, 0, used, q);
            Copy(source, p + "self_attn.k_proj.weight", qkv.weight, q, used, kv);
            Copy(source, p + "self_attn.v_proj.weight", qkv.weight, q + kv, used, kv);
            if (qkv.bias is { } bias)
            {
                Copy(source, p + "self_attn.q_proj.bias", bias, 0, used, q);
                Copy(source, p + "self_attn.k_proj.bias", bias, q, used, kv);
                Copy(source, p + "self_attn.v_proj.bias", bias, q + kv, used, kv);
            }
            Copy(source, p + "self_attn.o_proj.weight", layer.self_attn.o_proj.weight, 0, used);
            Copy(source, p + "mlp.gate_proj.weight", layer.mlp.gate_up_proj.weight, 0, used, c.IntermediateSize);
            Copy(source, p + "mlp.up_proj.weight", layer.mlp.gate_up_proj.weight, c.IntermediateSize, used, c.IntermediateSize);
            Copy(source, p + "mlp.down_proj.weight", layer.mlp.down_proj.weight, 0, used);
            Copy(source, p + "input_layernorm.weight", layer.input_layernorm.weight, 0, used);
            Copy(source, p + "post_attention_layernorm.weight", layer.post_attention_layernorm.weight, 0, used);
        }
        Copy(source, "model.norm.weight", model.norm.weight, 0, used);
        if (!c.TieWordEmbeddings)
            Copy(source, "lm_head.weight", model.lm_head.weight, 0, used);

        var unexpected = source.Names
            .Where(n => !used.Contains(n) && !Ignorable.Any(i => n.EndsWith(i, StringComparison.Ordinal)))
            .Where(n => !(c.TieWordEmbeddings && n == "lm_head.weight"))
            .ToList();
        if (unexpected.Count > 0)
            throw new InvalidDataException(
                $"{source.Location}: {unexpected.Count} tensor(s) that a {c.Architecture} with this config.json does not have, e.g. " +
                string.Join(", ", unexpected.Take(5)) + ". Is config.json from another model?");
    }

    /// <summary>The model's weights under Hugging Face names (fused matrices split), as CPU tensors in <paramref name="dtype"/>.</summary>
    public static IEnumerable<KeyValuePair<string, Tensor>> ExportHuggingFace(LlamaModel model, ScalarType dtype)
    {
        var c = model.Config;
        long q = (long)c.NumHeads * c.HeadDim, kv = (long)c.NumKvHeads * c.HeadDim;
        Tensor Rows(Tensor t, long from, long count) => t.detach().narrow(0, from, count).to(dtype).cpu().contiguous();
        Tensor All(Tensor t) => t.detach().to(dtype).cpu().contiguous();

        yield return new("model.embed_tokens.weight", All(model.embed_tokens));
        for (int i = 0; i < c.NumLayers; i++)
        {
            var layer = model.layers[i];
            string p = $"model.layers.{i}.";
            var qkv = layer.self_attn.qkv_proj;
            yield return new(p + "self_attn.q_proj.weight", Rows(qkv.weight, 0, q));
            yield return new(p + "self_attn.k_proj.weight", Rows(qkv.weight, q, kv));
            yield return new(p + "self_attn.v_proj.weight", Rows(qkv.weight, q + kv, kv));
            if (qkv.bias is { } bias)
            {
                yield return new(p + "self_attn.q_proj.bias", Rows(bias, 0, q));
                yield return new(p + "self_attn.k_proj.bias", Rows(bias, q, kv));
                yield return new(p + "self_attn.v_proj.bias", Rows(bias, q + kv, kv));
            }
            yield return new(p + "self_attn.o_proj.weight", All(layer.self_attn.o_proj.weight));
            yield return new(p + "mlp.gate_proj.weight", Rows(layer.mlp.gate_up_proj.weight, 0, c.IntermediateSize));
            yield return new(p + "mlp.up_proj.weight", Rows(layer.mlp.gate_up_proj.weight, c.IntermediateSize, c.IntermediateSize));
            yield return new(p + "mlp.down_proj.weight", All(layer.mlp.down_proj.weight));
            yield return new(p + "input_layernorm.weight", All(layer.input_layernorm.weight));
            yield return new(p + "post_attention_layernorm.weight", All(layer.post_attention_layernorm.weight));
        }
        yield return new("model.norm.weight", All(model.norm.weight));
        if (!c.TieWordEmbeddings)
            yield return new("lm_head.weight", All(model.lm_head.weight));
    }

    /// <summary>
    /// Checks, from <paramref name="config"/> alone, that <paramref name="source"/> has every tensor a network of that
    /// shape reads, with its shape: run before the network is made, so that a config.json with a huge or mistyped
    /// dimension is refused by name instead of failing in libtorch's allocator (it asked for terabytes).
    /// </summary>
    public static void CheckShapes(ModelConfig config, ITensorSource source)
    {
        long h = config.HiddenSize, q = (long)config.NumHeads * config.HeadDim, kv = (long)config.NumKvHeads * config.HeadDim;
        long inner = config.IntermediateSize, vocab = config.VocabSize;
        CheckShape(source, "model.embed_tokens.weight", [vocab, h]);
        for (int i = 0; i < config.NumLayers; i++)
        {
            string p = $"model.layers.{i}.";
            CheckShape(source, p + "self_attn.q_proj.weight", [q, h]);
            CheckShape(source, p + "self_attn.k_proj.weight", [kv, h]);
            CheckShape(source, p + "self_attn.v_proj.weight", [kv, h]);
            if (config.AttentionBias)
            {
                CheckShape(source, p + "self_attn.q_proj.bias", [q]);
                CheckShape(source, p + "self_attn.k_proj.bias", [kv]);
                CheckShape(source, p + "self_attn.v_proj.bias", [kv]);
            }
            CheckShape(source, p + "self_attn.o_proj.weight", [h, q]);
            CheckShape(source, p + "mlp.gate_proj.weight", [inner, h]);
            CheckShape(source, p + "mlp.up_proj.weight", [inner, h]);
            CheckShape(source, p + "mlp.down_proj.weight", [h, inner]);
            CheckShape(source, p + "input_layernorm.weight", [h]);
            CheckShape(source, p + "post_attention_layernorm.weight", [h]);
        }
        CheckShape(source, "model.norm.weight", [h]);
        if (!config.TieWordEmbeddings)
            CheckShape(source, "lm_head.weight", [vocab, h]);
    }

    private static void CheckShape(ITensorSource source, string name, long[] expected)
    {
        if (!source.Contains(name))
            // config.json named too: it may be the file at fault (more layers than the weights have).
            throw new InvalidDataException($"{source.Location}: tensor '{name}' is missing from the checkpoint (config.json implies it).");
        long[] stored = source.ShapeOf(name);
        if (!stored.SequenceEqual(expected))
            throw new InvalidDataException(
                $"{source.Location}: tensor '{name}' has shape [{string.Join(", ", stored)}], but config.json implies [{string.Join(", ", expected)}].");
    }

    /// <summary>Copies a stored tensor into rows [rowOffset, rowOffset + rows) of <paramref name="target"/> (all rows when rows is null).</summary>
    private static void Copy(ITensorSource source, string name, Tensor target, long rowOffset, HashSet<string> used, long? rows = null)
    {
        long[] expected = [.. target.shape];
        if (rows is long r) expected[0] = r;
        CheckShape(source, name, expected);
        using var scope = NewDisposeScope();
        var value = source.Read(name).to(target.dtype);
        (rows is null ? target : target.narrow(0, rowOffset, expected[0])).copy_(value);
        used.Add(name);
    }
}

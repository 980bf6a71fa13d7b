using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Tests.Support;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Tests.Parity;

/// <summary>
/// The engine against Hugging Face transformers' own outputs, saved with tiny random checkpoints of each family
/// (tests/fixtures/parity, made by make_fixtures.py with transformers 5.17): fp32 logits, attention weights of the
/// last query (through the probe), and greedy tokens.
/// </summary>
public class TransformersParityTests
{
    public static TheoryData<string> Families => new() { "llama", "qwen2", "mistral" };

    private static (LanguageModel Model, SafetensorsFile Reference) Load(string family)
    {
        string dir = RepoPaths.Path("tests", "fixtures", "parity", family);
        var model = LanguageModel.Load(dir, new LoadOptions { Device = "cpu", DType = "fp32" });
        return (model, SafetensorsFile.Open(System.IO.Path.Combine(dir, "reference.safetensors")));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void LogitsMatchTransformers(string family)
    {
        var (model, reference) = Load(family);
        using var _ = model;
        using var __ = reference;
        using var noGrad = no_grad();
        var logits = model.Network.forward(reference.Read("input_ids"));
        var expected = reference.Read("logits");
        double diff = (logits - expected).abs().max().item<float>();
        Assert.True(diff < 2e-5, $"{family}: max |Δlogit| = {diff}");
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void ProbedAttentionMatchesTransformersAttentionWeights(string family)
    {
        var (model, reference) = Load(family);
        using var _ = model;
        using var __ = reference;
        using var noGrad = no_grad();
        var c = model.Config;
        var heads = Probes.HeadIndex.All(c.NumLayers, c.NumHeads);
        using var probe = model.CreateProbe(heads);
        model.Network.forward(reference.Read("input_ids"), new ForwardOptions { Probe = probe });
        // HF: [layers, batch, heads, keys]; probe: [batch, layers*heads, 1, keys].
        var expected = reference.Read("last_query_attention").permute(1, 0, 2, 3)
            .reshape(2, c.NumLayers * c.NumHeads, 1, -1);
        double diff = (probe.Weights! - expected).abs().max().item<float>();
        Assert.True(diff < 1e-5, $"{family}: max |Δattention| = {diff}");
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void GreedyTokensMatchTransformersGenerate(string family)
    {
        var (model, reference) = Load(family);
        using var _ = model;
        using var __ = reference;
        int[] prompt = reference.Read("greedy_prompt")[0].data<long>().ToArray().Select(i => (int)i).ToArray();
        long[] expected = reference.Read("greedy_tokens")[0].data<long>().ToArray();
        using var cache = model.CreateCache(prompt.Length + expected.Length);
        var tokens = TokenGenerator.Generate(model.Network, prompt, cache,
            new GenerationOptions { MaxNewTokens = expected.Length }, [])
            .Select(s => (long)s.Id).ToArray();
        Assert.Equal(expected, tokens);
    }
}

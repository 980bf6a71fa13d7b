using System.Text.Json.Nodes;
using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Tests.Support;

namespace RetrievalGuard.Engine.Tests.Checkpoints;

public class ModelConfigTests
{
    private const string Llama31_8B = """
        {"architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
         "hidden_act": "silu", "hidden_size": 4096, "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": false,
         "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
         "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
         "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 128256}
        """;

    private const string Qwen25_7B = """
        {"architectures": ["Qwen2ForCausalLM"], "bos_token_id": 151643, "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 3584,
         "intermediate_size": 18944, "max_position_embeddings": 131072, "max_window_layers": 28, "model_type": "qwen2", "num_attention_heads": 28,
         "num_hidden_layers": 28, "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 131072,
         "tie_word_embeddings": false, "torch_dtype": "bfloat16", "use_sliding_window": false, "vocab_size": 152064}
        """;

    private const string Mistral7B = """
        {"architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096,
         "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32,
         "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
         "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 32000}
        """;

    private static ModelConfig Parse(string json) => ModelConfig.Parse((JsonObject)JsonNode.Parse(json)!);

    [Fact]
    public void Llama31()
    {
        var c = Parse(Llama31_8B);
        Assert.Equal(("LlamaForCausalLM", 4096, 32, 32, 8, 128, 14336, 128256),
            (c.Architecture, c.HiddenSize, c.NumLayers, c.NumHeads, c.NumKvHeads, c.HeadDim, c.IntermediateSize,
                c.VocabSize));
        Assert.Equal(new RopeScaling("llama3", 8, 1, 4, 8192), c.RopeScaling);
        Assert.Equal(500000, c.RopeTheta);
        Assert.False(c.AttentionBias);
        Assert.Null(c.SlidingWindow);
        Assert.Equal(new[] { 128001, 128008, 128009 }, c.EosTokenIds);
        Assert.Equal(8_030_261_248, c.ParameterCount());
    }

    [Fact]
    public void Qwen25HasBiasesAndNoWindowUnlessEnabled()
    {
        var c = Parse(Qwen25_7B);
        Assert.True(c.AttentionBias);
        Assert.Null(c.SlidingWindow);
        Assert.Equal((3584, 28, 4, 128, 1e-6, 1e6),
            (c.HiddenSize, c.NumHeads, c.NumKvHeads, c.HeadDim, c.RmsNormEps, c.RopeTheta));
        Assert.Equal(7_615_616_512, c.ParameterCount());
    }

    [Fact]
    public void MistralKeepsItsSlidingWindow()
    {
        var c = Parse(Mistral7B);
        Assert.Equal(4096, c.SlidingWindow);
        Assert.Equal(7_241_732_096, c.ParameterCount());
    }

    [Fact]
    public void Transformers5LayoutWithRopeParametersIsRead()
    {
        var c = ModelConfig.Load(RepoPaths.Path("tests", "fixtures", "parity", "llama", "config.json"));
        Assert.Equal(new RopeScaling("llama3", 8, 1, 4, 64), c.RopeScaling);
        Assert.Equal(500000, c.RopeTheta);
        Assert.Equal(32, c.HeadDim);
        Assert.Equal("float32", c.TorchDtype);
    }

    [Fact]
    public void ToJsonRoundTrips()
    {
        foreach (var json in new[] { Llama31_8B, Qwen25_7B, Mistral7B })
        {
            var c = Parse(json);
            var again = ModelConfig.Parse(c.ToJson());
            Assert.Equal(c with { EosTokenIds = [] }, again with { EosTokenIds = [] });
            Assert.Equal(c.EosTokenIds, again.EosTokenIds);
        }
    }

    [Theory]
    [InlineData("architectures", "[\"GPT2LMHeadModel\"]", "'GPT2LMHeadModel' is not supported")]
    [InlineData("num_key_value_heads", "5", "not a multiple of num_key_value_heads 5")]
    [InlineData("rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4.0}", "'yarn' is not supported")]
    [InlineData("hidden_size", "\"big\"", "'hidden_size' must be an integer")]
    [InlineData("vocab_size", "0", "vocab_size must be positive")]
    public void BadFieldsAreNamed(string field, string value, string expected)
    {
        var json = (JsonObject)JsonNode.Parse(Llama31_8B)!;
        json[field] = JsonNode.Parse(value);
        var e = Assert.ThrowsAny<Exception>(() => ModelConfig.Parse(json, "x/config.json"));
        Assert.Contains(expected, e.Message);
        Assert.Contains("x/config.json", e.Message);
    }

    [Fact]
    public void MissingFieldsAndFilesAreNamed()
    {
        var json = (JsonObject)JsonNode.Parse(Llama31_8B)!;
        json.Remove("intermediate_size");
        Assert.Contains("'intermediate_size' is missing",
            Assert.Throws<InvalidDataException>(() => ModelConfig.Parse(json)).Message);
        Assert.Throws<FileNotFoundException>(() => ModelConfig.Load("/nonexistent/config.json"));
    }
}

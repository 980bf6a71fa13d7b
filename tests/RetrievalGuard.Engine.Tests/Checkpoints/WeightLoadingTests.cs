using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Tests.Model;
using RetrievalGuard.Engine.Tests.Support;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Tests.Checkpoints;

/// <summary>
/// Saving in Hugging Face layout and loading back gives the same network; wrong checkpoints are refused.
/// </summary>
public class WeightLoadingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rg-w-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private void Save(LlamaModel model, IEnumerable<KeyValuePair<string, Tensor>>? tensors = null)
    {
        File.WriteAllText(Path.Combine(_dir, "config.json"), model.Config.ToJson().ToJsonString());
        SafetensorsWriter.Write(Path.Combine(_dir, Checkpoint.SingleFileName),
            tensors ?? LlamaWeights.ExportHuggingFace(model, ScalarType.Float32));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void SaveThenLoadGivesTheSameLogits(bool bias, bool tie)
    {
        using var original = TinyModels.Create(TinyModels.Config(bias: bias, tie: tie));
        Save(original);
        using var loaded = LanguageModel.Load(_dir);
        using var _ = no_grad();
        var tokens = TinyModels.Tokens(8, 9);
        ForwardConsistencyTests.AssertClose(original.forward(tokens), loaded.Network.forward(tokens), 0);
        Assert.Equal(original.Config.ParameterCount(), loaded.ParameterCount);
    }

    [Fact]
    public void AWrongShapeNamesTheTensorAndBothShapes()
    {
        using var model = TinyModels.Create();
        var tensors = LlamaWeights.ExportHuggingFace(model, ScalarType.Float32).ToDictionary();
        tensors["model.layers.1.mlp.up_proj.weight"] = zeros([47, 32]);
        Save(model, tensors);
        var e = Assert.Throws<InvalidDataException>(() => LanguageModel.Load(_dir));
        Assert.Contains("'model.layers.1.mlp.up_proj.weight' has shape [47, 32], but config.json implies [48, 32]",
            e.Message);
    }

    [Fact]
    public void MissingAndUnexpectedTensorsAreRefused()
    {
        using var model = TinyModels.Create();
        var tensors = LlamaWeights.ExportHuggingFace(model, ScalarType.Float32).ToDictionary();
        tensors.Remove("model.norm.weight");
        Save(model, tensors);
        Assert.Contains("'model.norm.weight' is missing",
            Assert.Throws<InvalidDataException>(() => LanguageModel.Load(_dir)).Message);

        tensors = LlamaWeights.ExportHuggingFace(model, ScalarType.Float32).ToDictionary();
        tensors["model.layers.2.self_attn.q_proj.weight"] = zeros([32, 32]);
        Save(model, tensors);
        Assert.Contains("model.layers.2.self_attn.q_proj.weight",
            Assert.Throws<InvalidDataException>(() => LanguageModel.Load(_dir)).Message);
    }

    [Fact]
    public void Bf16CheckpointsLoadIntoAnyDtype()
    {
        using var model = TinyModels.Create();
        Save(model, LlamaWeights.ExportHuggingFace(model, ScalarType.BFloat16));
        using var fp32 = LanguageModel.Load(_dir, new LoadOptions { DType = "fp32" });
        using var bf16 = LanguageModel.Load(_dir, new LoadOptions { DType = "bf16" });
        Assert.Equal(ScalarType.Float32, fp32.DType);
        Assert.Equal(ScalarType.BFloat16, bf16.DType);
        Assert.Contains("not a supported dtype", Assert.Throws<ArgumentException>(() =>
            LanguageModel.Load(_dir, new LoadOptions { DType = "int4" })).Message);
        Assert.Contains("not a device", Assert.Throws<ArgumentException>(() =>
            LanguageModel.Load(_dir, new LoadOptions { Device = "tpu" })).Message);
    }
}

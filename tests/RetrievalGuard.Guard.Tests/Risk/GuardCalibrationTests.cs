using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Guard.Risk;
using RetrievalGuard.Guard.Tests.Support;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Guard.Tests.Risk;

public class GuardCalibrationTests
{
    private static readonly HeadMapModel Model = new("LlamaForCausalLM", 8, 8, 4, 32, "sha256:abc", "organism");

    private static GuardCalibration Calibration() => new(Model,
        [new CalibratedMethod(GuardCalibration.GuardMethod,
            new LogisticModel(["copy_mean"], [0.5], [0.25], [-2.0], 0.1, 0.01))],
        0.5);

    private static ModelConfig Config(int layers = 8) => new()
    {
        Architecture = "LlamaForCausalLM", HiddenSize = 256, NumLayers = layers, NumHeads = 8, NumKvHeads = 4,
        HeadDim = 32, IntermediateSize = 768, VocabSize = 4096, MaxPositionEmbeddings = 2048,
    };

    [Fact]
    public void RoundTripsThroughItsFileWithTheSamePredictions()
    {
        using var folder = new TempFolder();
        var path = System.IO.Path.Combine(folder.Path, "m" + GuardCalibration.FileSuffix);
        Calibration().Save(path);

        var loaded = GuardCalibration.Load(path);

        Assert.Equal(Model, loaded.Model);
        Assert.Equal(Calibration().Guard.Predict([0.7]), loaded.Guard.Predict([0.7]), 12);
        Assert.Contains("\"format\": \"retrievalguard.calibration\"", File.ReadAllText(path), StringComparison.Ordinal);
    }

    [Fact]
    public void IsRefusedForAnotherModelNamingWhatDiffers()
    {
        var calibration = Calibration();
        calibration.EnsureFits(Config(), "sha256:abc", "c.json");

        var weights = Assert.Throws<InvalidDataException>(() =>
            calibration.EnsureFits(Config(), "sha256:def", "c.json"));
        Assert.Contains("sha256:def", weights.Message, StringComparison.Ordinal);
        Assert.Contains("rguard guard fit", weights.Message, StringComparison.Ordinal);
        var shape = Assert.Throws<InvalidDataException>(() =>
            calibration.EnsureFits(Config(layers: 4), "sha256:abc", "c.json"));
        Assert.Contains("8 layers", shape.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"format\": \"other\"}", "field 'format'")]
    [InlineData("{\"format\": \"retrievalguard.calibration\", \"version\": 9}", "version 9")]
    [InlineData("not json", "not valid JSON")]
    [InlineData("{\"format\": \"retrievalguard.calibration\", \"version\": 1, \"model\": {\"layers\": 8}}",
        "c.calibration.json")]
    public void BadFilesNameTheFileAndTheField(string text, string expected)
    {
        using var folder = new TempFolder();
        var path = folder.Write("c.calibration.json", text);

        var error = Assert.Throws<InvalidDataException>(() => GuardCalibration.Load(path));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
        Assert.Contains("c.calibration.json", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BoostedTreesRoundTripAndVersionOneFilesStillLoadAsLogistic()
    {
        using var folder = new TempFolder();
        var tree = new RegressionTree([0, -1, -1], [0.5, 0, 0], [1, -1, -1], [2, -1, -1], [0, -1.5, 2.0]);
        var boosted = new GuardCalibration(Model,
            [new CalibratedMethod(GuardCalibration.GuardMethod, new BoostedTreesModel(["copy_mean"], 0.2, 0.1, [tree],
                3, 20, 1))], 0.5);
        var path = System.IO.Path.Combine(folder.Path, "b" + GuardCalibration.FileSuffix);
        boosted.Save(path);
        var loaded = GuardCalibration.Load(path);
        Assert.IsType<BoostedTreesModel>(loaded.Guard);
        Assert.Equal(boosted.Guard.Predict([0.7]), loaded.Guard.Predict([0.7]), 12);
        Assert.Contains("\"type\": \"boosted_trees\"", File.ReadAllText(path), StringComparison.Ordinal);

        // A version-1 file: no type, a logistic calibrator.
        var v1 = File.ReadAllText(SavedLogistic(folder)).Replace("\"version\": 2", "\"version\": 1",
            StringComparison.Ordinal).Replace("\"type\": \"logistic\",", "", StringComparison.Ordinal);
        var old = GuardCalibration.Load(folder.Write("v1" + GuardCalibration.FileSuffix, v1));
        Assert.Equal(Calibration().Guard.Predict([0.7]), old.Guard.Predict([0.7]), 12);

        var unknown = File.ReadAllText(path).Replace("boosted_trees", "forest", StringComparison.Ordinal);
        var error = Assert.Throws<InvalidDataException>(() =>
            GuardCalibration.Load(folder.Write("u" + GuardCalibration.FileSuffix, unknown)));
        Assert.Contains("methods[0].calibrator.type is 'forest'", error.Message, StringComparison.Ordinal);
    }

    private static string SavedLogistic(TempFolder folder)
    {
        var path = System.IO.Path.Combine(folder.Path, "l" + GuardCalibration.FileSuffix);
        Calibration().Save(path);
        return path;
    }

    [Fact]
    public void AMissingFileSaysSo()
    {
        var error = Assert.Throws<FileNotFoundException>(() =>
            GuardCalibration.Load("/nonexistent/x.calibration.json"));
        Assert.Contains("/nonexistent/x.calibration.json", error.Message, StringComparison.Ordinal);
    }
}

using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Heads.Maps;
using RetrievalGuard.Heads.Maps.Importers;

namespace RetrievalGuard.Heads.Tests.Maps;

public class HeadMapTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rg-map-").FullName;
    private static readonly HeadMapModel Small = new("LlamaForCausalLM", 2, 4, 2, 8, "sha256:abc", "small");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static HeadMap QueryMap() => new(Small,
        new HeadMapMethod("copy-paste-retrieval-score", 0.1, [256], [0, 1], 2, 4, 4),
        HeadGranularity.QueryHead, [[0.0, 0.3, 0.05, 0.0], [0.12, 0.0, 0.0, 0.5]], [[4, 4, 4, 4], [4, 4, 4, 4]],
        [[0, 1, 0.5, 0], [0.5, 0, 0, 0.95]]);

    [Fact]
    public void RoundTripsAndDerivesRetrievalAndAlwaysOnHeads()
    {
        string path = Path.Combine(_dir, "m.json");
        QueryMap().Save(path);
        var map = HeadMap.Load(path);
        Assert.Equal([(1, 3), (0, 1), (1, 0)], map.RetrievalHeads.Select(h => (h.Layer, h.Head)));
        Assert.Equal([(1, 3), (0, 1)], map.AlwaysOnHeads.Select(h => (h.Layer, h.Head)));
        Assert.Equal(Small, map.Model);
        Assert.Equal(4, map.Method.TestsCounted);
        Assert.Equal(QueryMap().Scores, map.Scores);
    }

    [Fact]
    public void KvHeadMapsExpandToTheirQueryHeads()
    {
        var map = new HeadMap(Small, new HeadMapMethod("duoattention-gate", 0.5), HeadGranularity.KvHead,
            [[0.1, 0.9], [0.2, 0.3]]);
        Assert.Equal([new HeadIndex(0, 2), new HeadIndex(0, 3)], map.TopQueryHeads(2));
        string path = Path.Combine(_dir, "kv.json");
        map.Save(path);
        Assert.Equal(HeadGranularity.KvHead, HeadMap.Load(path).Granularity);
    }

    [Fact]
    public void AMapForAnotherModelIsRefusedWithTheDifference()
    {
        var config = new ModelConfig
        {
            NumLayers = 2, NumHeads = 4, NumKvHeads = 2, HeadDim = 8, HiddenSize = 32, IntermediateSize = 8,
            VocabSize = 8
        };
        QueryMap().EnsureFits(config, "sha256:abc");
        Assert.Contains("the model's 3", Assert.Throws<InvalidDataException>(() =>
            QueryMap().EnsureFits(config with { NumLayers = 3 }, null)).Message);
        var e = Assert.Throws<InvalidDataException>(() => QueryMap().EnsureFits(config, "sha256:other", "x.json"));
        Assert.Contains("x.json", e.Message);
        Assert.Contains("different weights", e.Message);
    }

    [Fact]
    public void ForeignOrFutureFilesAreRefused()
    {
        Assert.Contains("not a RetrievalGuard head map", Assert.Throws<InvalidDataException>(() =>
            HeadMap.Load(Write("a.json", """{"0-1": [0.5]}"""))).Message);
        Assert.Contains("version 9", Assert.Throws<InvalidDataException>(() =>
            HeadMap.Load(Write("b.json", """{"format": "retrievalguard.headmap", "version": 9}"""))).Message);
        Assert.Contains("not valid JSON", Assert.Throws<InvalidDataException>(() =>
            HeadMap.Load(Write("c.json", "{"))).Message);
        Assert.Throws<ArgumentException>(() =>
            new HeadMap(Small, new HeadMapMethod("x", 0.1), HeadGranularity.QueryHead, [[0.1]]));
    }

    [Fact]
    public void RetrievalHeadScoresAreAveragedPerHead()
    {
        var map = RetrievalHeadImporter.Import(
            Write("scores.json", """{"0-1": [0.2, 0.4, 0.0], "1-3": [1.0], "0-0": [0, 0]}"""), Small);
        Assert.Equal(0.2, map.Scores[0][1], 9);
        Assert.Equal(1.0, map.Scores[1][3]);
        Assert.Equal(3, map.TestsPerHead![0][1]);
        Assert.Equal(2.0 / 3, map.Activation![0][1], 9);
        Assert.Equal([(1, 3), (0, 1)], map.RetrievalHeads.Select(h => (h.Layer, h.Head)));
    }

    [Theory]
    [InlineData("""{"0_1": [0.2]}""", "not of the form LAYER-HEAD")]
    [InlineData("""{"2-1": [0.2]}""", "outside the model")]
    [InlineData("""{"0-1": ["x"]}""", "not a number")]
    [InlineData("""{"0-1": []}""", "non-empty list")]
    [InlineData("""{}""", "holds no heads")]
    [InlineData("""[1]""", "not a JSON object")]
    public void BadRetrievalHeadFilesNameTheProblem(string json, string expected)
    {
        var e = Assert.Throws<InvalidDataException>(() => RetrievalHeadImporter.Import(Write("bad.json", json), Small));
        Assert.Contains(expected, e.Message);
        Assert.Contains("bad.json", e.Message);
    }

    [Fact]
    public void DuoAttentionGatesAreClippedAndThresholdedAtTheSparsityQuantile()
    {
        var map = DuoAttentionImporter.Import(Write("g.tsv", "1.2\t0.1\n-0.01\t0.6\n"), Small);
        Assert.Equal([[1.0, 0.1], [0.0, 0.6]], map.Scores);
        Assert.Equal(0.35, map.Method.Threshold, 9); // numpy.quantile([0, .1, .6, 1], .5)
        Assert.Equal([(0, 0), (1, 1)], map.RetrievalHeads.Select(h => (h.Layer, h.Head)));
        Assert.Contains("row 2 has 3 values", Assert.Throws<InvalidDataException>(() =>
            DuoAttentionImporter.Import(Write("h.tsv", "1\t0\n1\t0\t1\n"), Small)).Message);
        Assert.Contains("3 rows", Assert.Throws<InvalidDataException>(() =>
            DuoAttentionImporter.Import(Write("i.tsv", "1\t0\n1\t0\n1\t0\n"), Small)).Message);
        Assert.Contains("'x'", Assert.Throws<InvalidDataException>(() =>
            DuoAttentionImporter.Import(Write("j.tsv", "1\tx\n1\t0\n"), Small)).Message);
    }

    [Theory]
    [InlineData("Meta-Llama-3.1-8B-Instruct")]
    [InlineData("Mistral-7B-Instruct-v0.3")]
    public void ShippedDuoAttentionMapsLoadWithTheirModelsShape(string model)
    {
        var map = HeadMap.Load(RepoPaths.Path("headmaps", $"{model}.duoattention.json"));
        Assert.Equal((32, 32, 8, 128), (map.Model.Layers, map.Model.Heads, map.Model.KvHeads, map.Model.HeadDim));
        Assert.Equal(HeadGranularity.KvHead, map.Granularity);
        Assert.Equal(128, map.RetrievalHeads.Count);
        Assert.Contains("not copy-paste retrieval scores", map.Method.Notes);
        // The conversion is reproducible from the shipped TSV.
        var again = DuoAttentionImporter.Import(
            RepoPaths.Path("headmaps", "third_party", "duo-attention", model, "full_attention_heads.tsv"), map.Model);
        Assert.Equal(map.Scores.SelectMany(r => r), again.Scores.SelectMany(r => r).Select(v => Math.Round(v, 6)));
    }
}

using System.Text;
using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Native;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Tests.Checkpoints;

public class SafetensorsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rg-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    [Fact]
    public void EveryDtypeRoundTripsBitForBit()
    {
        var g = new Generator(3);
        var tensors = new Dictionary<string, Tensor>
        {
            ["f32"] = randn([3, 5], generator: g),
            ["f16"] = randn([4, 2], generator: g).to(float16),
            ["bf16"] = randn([2, 3, 2], generator: g).to(bfloat16),
            ["f64"] = randn([2], generator: g, dtype: float64),
            ["i64"] = Scalars.Range(-5, 5),
            ["i32"] = Scalars.Range(0, 6, dtype: int32).view(2, 3),
            ["u8"] = (Scalars.Range(29) * Scalars.Of(7L)).to(ScalarType.Byte),  // 0, 7, …, 196
            ["bool"] = tensor(new[] { true, false, true }),
            ["scalar"] = tensor(3.5f),
            ["empty"] = zeros([0, 4]),
        };
        SafetensorsWriter.Write(PathOf("a.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        using var file = SafetensorsFile.Open(PathOf("a.safetensors"));
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal(tensors.Keys.Order(), file.Names.Order());
        foreach (var (name, expected) in tensors)
        {
            var actual = file.Read(name);
            Assert.Equal(expected.dtype, actual.dtype);
            Assert.Equal(expected.shape, actual.shape);
            Assert.Equal(expected.bytes.ToArray(), actual.bytes.ToArray());
        }
        // Header padded to 8 bytes with spaces, as the reference library writes it.
        var bytes = File.ReadAllBytes(PathOf("a.safetensors"));
        Assert.Equal(0, BitConverter.ToInt64(bytes, 0) % 8);
    }

    private string WriteRaw(string header, int dataBytes)
    {
        var json = Encoding.UTF8.GetBytes(header);
        string path = PathOf(Guid.NewGuid().ToString("N") + ".safetensors");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)json.Length), .. json, .. new byte[dataBytes]]);
        return path;
    }

    [Theory]
    [InlineData("""{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "a2": """
        + """{"dtype": "Q4", "shape": [1], "data_offsets": [8, 9]}}""", 9, "dtype 'Q4'")]
    [InlineData("""{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}""", 8,
        "shape [3] × F32 (4 bytes) = 12 bytes")]
    [InlineData("""{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}""", 4,
        "ends at byte 8 of the data section, which has only 4")]
    [InlineData("""{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": """
        + """{"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}""", 12, "overlap")]
    [InlineData("""{"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}""", 8, "negative dimension")]
    [InlineData("""{"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}""", 8, "data_offsets [8, 0]")]
    [InlineData("""{"a": {"dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]}}""", 8, "not an integer")]
    [InlineData("""{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "a": """
        + """{"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}""", 8, "appears twice")]
    [InlineData("""[1, 2]""", 0, "not a JSON object")]
    [InlineData("""{"a": """, 0, "not valid JSON")]
    public void CorruptHeadersAreRefusedWithTheReason(string header, int dataBytes, string expected)
    {
        string path = WriteRaw(header, dataBytes);
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(Path.GetFileName(path), e.Message);
    }

    [Fact]
    public void TruncatedAndTinyFilesAreRefused()
    {
        File.WriteAllBytes(PathOf("tiny.safetensors"), [1, 2, 3]);
        Assert.Contains("too short",
            Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(PathOf("tiny.safetensors"))).Message);
        File.WriteAllBytes(PathOf("huge.safetensors"), [.. BitConverter.GetBytes(1UL << 40), 0, 0]);
        Assert.Contains("header length",
            Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(PathOf("huge.safetensors"))).Message);
        Assert.Throws<FileNotFoundException>(() => SafetensorsFile.Open(PathOf("missing.safetensors")));
        using (var f = SafetensorsFile.Open(
            WriteRaw("""{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}""", 8)))
            Assert.Contains("no tensor named 'b'", Assert.Throws<KeyNotFoundException>(() => f.Read("b")).Message);
    }

    [Fact]
    public void ShardedCheckpointsRoundTripAndTheirIndexIsChecked()
    {
        string model = Path.Combine(_dir, "model");
        var tensors = Enumerable.Range(0, 6).ToDictionary(i => $"w{i}", i => full([100], Scalars.Of((float)i)));
        SafetensorsWriter.WriteSharded(model, tensors, maxShardBytes: 900);
        Assert.Equal(3, Directory.GetFiles(model, "model-*-of-00003.safetensors").Length);
        using (var checkpoint = Checkpoint.Open(model))
        {
            Assert.Equal(6, checkpoint.Names.Count());
            Assert.Equal(5f, checkpoint.Read("w5")[0].item<float>());
        }
        string index = Path.Combine(model, Checkpoint.IndexFileName);
        File.WriteAllText(index, File.ReadAllText(index).Replace("\"w5\": \"model-00003-of-00003.safetensors\"",
            "\"w5\": \"model-00001-of-00003.safetensors\""));
        Assert.Contains("does not contain it",
            Assert.Throws<InvalidDataException>(() => Checkpoint.Open(model)).Message);
        File.Delete(Path.Combine(model, "model-00003-of-00003.safetensors"));
        Assert.Contains("not in", Assert.Throws<FileNotFoundException>(() => Checkpoint.Open(model)).Message);
    }

    [Fact]
    public void AFolderWithoutSafetensorsSaysWhatItLookedFor()
    {
        File.WriteAllText(Path.Combine(_dir, "pytorch_model.bin"), "pickle");
        var e = Assert.Throws<FileNotFoundException>(() => Checkpoint.Open(_dir));
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("pickle", e.Message);
    }
}

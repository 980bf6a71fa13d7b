using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Tests.Support;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Tests.Checkpoints;

/// <summary>
/// Fuzzes the checkpoint files a user hands in: <c>model.safetensors</c> (3,000 inputs, seed 20261203: the 8-byte
/// header length, the header's JSON and its facts — dtypes, shapes, offsets, names — and the bytes, truncated at every
/// boundary; each input read tensor by tensor, then loaded into a network) and <c>config.json</c> (3,000 inputs, seed
/// 20261204: JSON edits, and shape fields set to zero, negative, huge, fractional or non-dividing values; every tenth
/// one also loaded as a whole model folder with <see cref="LanguageModel.Load"/>). Every input must be read, or refused
/// with <see cref="InvalidDataException"/> or <see cref="NotSupportedException"/> naming the file; see
/// <see cref="FileFuzzer"/>. A failure prints the seed and the input's index: RG_FUZZ_CASE=index (with RG_FUZZ_SEED if
/// it was overridden) replays that one input.
/// </summary>
public class CheckpointFuzzTests(ITestOutputHelper output)
{
    public const int SafetensorsSeed = 20261203, SafetensorsInputs = 3000;
    public const int ConfigSeed = 20261204, ConfigInputs = 3000;

    private static readonly string TinyLlama = RepoPaths.Path("samples", "models", "tiny-random-llama");

    [Fact]
    public void MutatedSafetensorsAreReadOrRefusedNamingTheFile()
    {
        // Two seeds: the Hugging Face export of tiny-random-llama (F32, untied), and an engine export with q/k/v
        // biases, tied embeddings and BF16 storage, each with a network of its shape to load into.
        var hf = SafetensorsSeedFile.FromFile(File.ReadAllBytes(Path.Combine(TinyLlama, Checkpoint.SingleFileName)));
        using var hfNetwork =
            new LlamaModel(ModelConfig.Load(Path.Combine(TinyLlama, "config.json")), ScalarType.Float32, CPU);
        var biasConfig = TinyModels.Config(bias: true, tie: true);
        using var biasNetwork = TinyModels.Create(biasConfig);
        var bias = SafetensorsSeedFile.FromTensors(LlamaWeights.ExportHuggingFace(biasNetwork, ScalarType.BFloat16));
        var seeds = new[] { (Seed: hf, Network: hfNetwork), (Seed: bias, Network: biasNetwork) };

        var result = FileFuzzer.Run(new FuzzSuite("model.safetensors", SafetensorsSeed, SafetensorsInputs,
            Checkpoint.SingleFileName,
            (r, i) => seeds[i % 2].Seed.Mutate(r),
            (path, i) =>
            {
                using var file = SafetensorsFile.Open(path);
                // Every byte range is read (the data section's truncations show here), then the tensors go into a
                // network whose shape the seed's config.json gives, which checks names and shapes.
                foreach (string name in file.Names)
                    using (file.Read(name)) { }
                LlamaWeights.CheckShapes(seeds[i % 2].Network.Config, file);
                LlamaWeights.Load(seeds[i % 2].Network, file);
            }));
        output.WriteLine(result.Report());
        Assert.True(result.Failures.Count == 0, result.Report());
    }

    [Fact]
    public void MutatedConfigsAreReadOrRefusedNamingTheFile()
    {
        var seeds = new[]
        {
            new JsonMutator(File.ReadAllText(Path.Combine(TinyLlama, "config.json")), "tiny-random-llama"),
            new JsonMutator(
                File.ReadAllText(RepoPaths.Path("samples", "models", "organism", "config.json")), "organism"),
            new JsonMutator(MistralConfig(), "mistral-shaped"),
            new JsonMutator(Qwen2Config(), "qwen2-shaped"),
        };
        var result = FileFuzzer.Run(new FuzzSuite("config.json", ConfigSeed, ConfigInputs, "config.json",
            (r, i) => i % 10 == 0 ? (r.Next(2) == 0 ? TargetedConfig(r, seeds[0]) : seeds[0].Mutate(r))
                : r.Next(3) == 0 ? TargetedConfig(r, seeds[r.Next(seeds.Length)])
                : seeds[r.Next(seeds.Length)].Mutate(r),
            (path, i) =>
            {
                var config = ModelConfig.Load(path);
                _ = config.ParameterCount();
                _ = config.ModelType;
                // Every tenth input is a whole folder (tiny-random-llama's weights and tokenizer beside the mutated
                // config.json): shapes that disagree with the weights must be refused before anything large is made.
                if (i % 10 == 0)
                {
                    using var model = LanguageModel.Load(Path.GetDirectoryName(path)!);
                }
            })
        {
            Setup = folder =>
            {
                foreach (string file in new[] { Checkpoint.SingleFileName, "tokenizer.model", "tokenizer_config.json",
                    "generation_config.json" })
                    File.Copy(Path.Combine(TinyLlama, file), Path.Combine(folder, file));
            },
        });
        output.WriteLine(result.Report());
        Assert.True(result.Failures.Count == 0, result.Report());
    }

    private static readonly string[] DimensionFields =
    [
        "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
        "intermediate_size", "vocab_size", "max_position_embeddings", "sliding_window", "rope_theta", "rms_norm_eps",
        "bos_token_id", "eos_token_id",
    ];

    /// <summary>
    /// The shape fields set to what breaks models: zero, negative, huge, fractional, not dividing, wrong type.
    /// </summary>
    private static FuzzInput TargetedConfig(Random r, JsonMutator seed)
    {
        var json = JsonNode.Parse(seed.SeedText)!.AsObject();
        var done = new List<string>();
        for (int k = 0, edits = 1 + r.Next(2); k < edits; k++)
        {
            string field = DimensionFields[r.Next(DimensionFields.Length)];
            string[] values = ["0", "-1", "-64", "1", "3", "5", "7", "31", "33", "1.5", "2147483647", "2147483648",
                "1e12", "1e308", "-1e308", "1e999", "\"64\"", "null", "true", "[64]", "{}", "1073741824", "65536",
                "4096"];
            string value = values[r.Next(values.Length)];
            json[field] = JsonMutator.Literal(value);
            done.Add($"{field} = {value}");
        }
        if (r.Next(4) == 0)
        {
            // rope scaling with broken parameters
            string key = r.Next(2) == 0 ? "rope_scaling" : "rope_parameters";
            string[] ropes =
            [
                """{"rope_type": "llama3", "factor": 8}""", """{"rope_type": "linear"}""",
                """{"rope_type": "linear", "factor": 0}""", """{"type": "yarn", "factor": 4}""", """{"rope_type": 5}""",
                """{"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 1, "original_max_position_embeddings": 0}""",
                """{"rope_type": "llama3", "factor": -8, "low_freq_factor": 4, "high_freq_factor": 1, "original_max_position_embeddings": 8192}""",
                """{"rope_type": "dynamic", "factor": 2}""", """{"rope_theta": -1}""", """[1, 2]""", "null",
            ];
            string rope = ropes[r.Next(ropes.Length)];
            json[key] = JsonMutator.Literal(rope);
            done.Add($"{key} = {rope}");
        }
        return FuzzInput.Text($"{seed.Name}: {string.Join("; ", done)}", JsonMutator.Write(json));
    }

    private static string MistralConfig() => """
        {"architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 160, "vocab_size": 512, "sliding_window": 4096,
         "max_position_embeddings": 32768, "rope_theta": 1000000.0, "rms_norm_eps": 1e-05, "tie_word_embeddings": false,
         "torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2}
        """;

    private static string Qwen2Config() => """
        {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 160, "vocab_size": 512, "use_sliding_window": true,
         "sliding_window": 32768, "max_window_layers": 21, "max_position_embeddings": 32768, "rope_theta": 1000000.0,
         "rms_norm_eps": 1e-06, "tie_word_embeddings": true, "torch_dtype": "bfloat16", "bos_token_id": 151643,
         "eos_token_id": [151645, 151643], "rope_scaling": null}
        """;
}

/// <summary>A valid safetensors file taken apart (header JSON, tensor byte ranges, data) to mutate its parts.</summary>
internal sealed class SafetensorsSeedFile
{
    private readonly byte[] _file;
    private readonly JsonObject _header;
    private readonly long _dataLength;
    private readonly int[] _boundaries;
    private readonly JsonMutator _headerMutator;

    private SafetensorsSeedFile(byte[] file)
    {
        _file = file;
        long headerLength = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        _header = JsonNode.Parse(Encoding.UTF8.GetString(file, 8, (int)headerLength))!.AsObject();
        _dataLength = file.Length - 8 - headerLength;
        _headerMutator = new JsonMutator(_header.ToJsonString(), "header");
        // Truncation points: inside the length field, the header's end, and every tensor's first and last byte.
        var boundaries = new List<int>
        {
            0, 1, 4, 7, 8, 9, (int)(8 + headerLength) - 1, (int)(8 + headerLength), file.Length - 1
        };
        foreach (var (_, entry) in _header)
            if (entry?["data_offsets"] is JsonArray offsets)
            {
                boundaries.Add((int)(8 + headerLength + offsets[0]!.GetValue<long>()));
                boundaries.Add((int)(8 + headerLength + offsets[1]!.GetValue<long>()) - 1);
            }
        _boundaries = [.. boundaries];
    }

    public static SafetensorsSeedFile FromFile(byte[] file) => new(file);

    public static SafetensorsSeedFile FromTensors(IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        string path = Path.Combine(Path.GetTempPath(), $"rg-fuzz-seed-{Guid.NewGuid():N}.safetensors");
        try
        {
            var list = tensors.ToList();
            SafetensorsWriter.Write(path, list, new Dictionary<string, string> { ["format"] = "pt" });
            foreach (var (_, t) in list) t.Dispose();
            return new(File.ReadAllBytes(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private byte[] Data => _file[(_file.Length - (int)_dataLength)..];

    private static byte[] Compose(string header, byte[] data, ulong? length = null)
    {
        var json = Encoding.UTF8.GetBytes(header);
        var prefix = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, length ?? (ulong)json.Length);
        return [.. prefix, .. json, .. data];
    }

    public FuzzInput Mutate(Random r) => r.Next(20) switch
    {
        < 3 => LengthField(r),
        < 10 => HeaderStructure(r),
        < 15 => HeaderSemantics(r),
        _ => ByteMutator.Mutate(r, _file, _boundaries, "file"),
    };

    /// <summary>The 8-byte little-endian header length: zero, off by one, past the end, huge, random.</summary>
    private FuzzInput LengthField(Random r)
    {
        ulong header = BinaryPrimitives.ReadUInt64LittleEndian(_file);
        ulong[] values =
        [
            0, 1, 2, 7, header - 1, header + 1, header + 8, (ulong)_file.Length - 8, (ulong)_file.Length - 7,
            (ulong)_file.Length, 100UL << 20, (100UL << 20) + 1, 1UL << 32, (1UL << 32) + header, 1UL << 63,
            ulong.MaxValue, (ulong)r.NextInt64(),
            header | (1UL << r.Next(64)),
        ];
        ulong value = values[r.Next(values.Length)];
        var bytes = (byte[])_file.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        return new($"header length {header} → {value}", bytes);
    }

    /// <summary>Generic JSON edits of the header, written back with a correct length (sometimes the old one).</summary>
    private FuzzInput HeaderStructure(Random r)
    {
        var edit = _headerMutator.Mutate(r);
        ulong? length = r.Next(8) == 0 ? BinaryPrimitives.ReadUInt64LittleEndian(_file) : null;
        var json = edit.Bytes;
        var prefix = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, length ?? (ulong)json.Length);
        return new(edit.Mutation + (length is null ? "" : " (old length kept)"), [.. prefix, .. json, .. Data]);
    }

    private static readonly string[] DTypes =
        ["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "Q4_0", "f32", ""];

    /// <summary>
    /// Edits that keep the header valid JSON but make its facts wrong: dtypes, shapes, offsets, names.
    /// </summary>
    private FuzzInput HeaderSemantics(Random r)
    {
        var header = _header.DeepClone().AsObject();
        var names = header.Where(p => p.Key != "__metadata__").Select(p => p.Key).ToList();
        string name = names[r.Next(names.Count)];
        var entry = header[name]!.AsObject();
        var shape = entry["shape"]!.AsArray();
        var offsets = entry["data_offsets"]!.AsArray();
        long begin = offsets[0]!.GetValue<long>(), end = offsets[1]!.GetValue<long>();
        string what;
        switch (r.Next(16))
        {
            case 0:
                entry["dtype"] = DTypes[r.Next(DTypes.Length)];
                what = $"dtype = {entry["dtype"]}";
                break;
            case 1:
            {
                // Another dtype with the shape scaled so that the byte count still matches (or not).
                string dtype = DTypes[r.Next(10)];
                entry["dtype"] = dtype;
                if (shape.Count > 0 && dtype is "F64" or "I64") shape[^1] = shape[^1]!.GetValue<long>() / 2;
                what = $"dtype = {dtype}, last dimension adjusted";
                break;
            }
            case 2 when shape.Count >= 2:
                (shape[0], shape[1]) = (shape[1]!.DeepClone(), shape[0]!.DeepClone());
                what = "shape transposed";
                break;
            case 3:
                if (shape.Count > 0) shape.RemoveAt(shape.Count - 1);
                else shape.Add(1);
                what = $"shape = {shape.ToJsonString()}";
                break;
            case 4:
                shape.Insert(r.Next(shape.Count + 1), r.Next(3) == 0 ? 0 : 1);
                what = $"shape = {shape.ToJsonString()}";
                break;
            case 5:
            {
                long[] huge = [1L << 31, 1L << 32, 1L << 62, long.MaxValue, 3037000500, -1, 0];
                int at = shape.Count == 0 ? 0 : r.Next(shape.Count);
                long value = huge[r.Next(huge.Length)];
                if (shape.Count == 0) shape.Add(value);
                else shape[at] = value;
                if (r.Next(2) == 0) shape.Add(value == 0 ? 1L << 62 : 0);
                what = $"shape = {shape.ToJsonString()}";
                break;
            }
            case 6:
            {
                long shift = new long[] { 1, -1, 2, 4, 8, -8, 256, -256, 1L << 20 }[r.Next(9)];
                offsets[0] = begin + shift;
                offsets[1] = end + shift;
                what = $"data_offsets shifted by {shift}";
                break;
            }
            case 7:
                offsets[1] = r.Next(2) == 0 ? _dataLength + 1 : _dataLength + (1L << r.Next(10, 62));
                what = $"data_offsets end = {offsets[1]}";
                break;
            case 8:
                (offsets[0], offsets[1]) = (r.Next(2) == 0 ? -1 : end, begin);
                what = $"data_offsets = {offsets.ToJsonString()}";
                break;
            case 9:
            {
                // Overlap another tensor's range.
                string other = names[r.Next(names.Count)];
                var o = header[other]!["data_offsets"]!.AsArray();
                offsets[0] = o[0]!.GetValue<long>() + (r.Next(2) == 0 ? 0 : 4);
                offsets[1] = offsets[0]!.GetValue<long>() + (end - begin);
                what = $"data_offsets moved onto '{other}'";
                break;
            }
            case 10:
                header.Remove(name);
                what = "removed";
                break;
            case 11:
            {
                string extra = r.Next(2) == 0 ? "model.layers.99.extra.weight" : name + ".copy";
                header[extra] = new JsonObject
                {
                    ["dtype"] = "F32", ["shape"] = new JsonArray(0), ["data_offsets"] = new JsonArray(end, end)
                };
                what = $"extra zero-size tensor '{extra}'";
                break;
            }
            case 12:
                header.Remove(name);
                header[name.Replace("weight", "wieght", StringComparison.Ordinal)] = entry;
                what = "renamed";
                break;
            case 13:
                header["__metadata__"] = JsonMutator.Literal(
                    new[] { "[]", "{\"format\": 1}", "{\"format\": null}", "\"pt\"", "{\"a\": {}}" }[r.Next(5)]);
                what = $"__metadata__ = {JsonMutator.Write(header["__metadata__"])}";
                break;
            case 14:
            {
                // A duplicate key, which JsonObject cannot hold: spliced into the text.
                string text = JsonMutator.Write(header);
                string dup = $"\"{name}\":{JsonMutator.Write(entry)},";
                return new($"header semantics: '{name}' appears twice", Compose("{" + dup + text[1..], Data));
            }
            default:
                entry[new[] { "dtype", "shape", "data_offsets" }[r.Next(3)]] =
                    JsonMutator.Literal(JsonMutator.RandomLiteral(r));
                what = "a field = a random literal";
                break;
        }
        return new($"header semantics: '{name}' {what}", Compose(JsonMutator.Write(header), Data));
    }
}

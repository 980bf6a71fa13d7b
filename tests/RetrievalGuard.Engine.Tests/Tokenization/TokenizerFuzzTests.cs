using System.Text;
using System.Text.Json.Nodes;
using RetrievalGuard.Engine.Tests.Support;
using RetrievalGuard.Engine.Tokenization;
using Xunit.Abstractions;

namespace RetrievalGuard.Engine.Tests.Tokenization;

/// <summary>
/// Fuzzes the tokenizer files of a model folder through <see cref="ModelTokenizer.Load"/>, then encodes and decodes
/// with what loaded: <c>tokenizer.json</c> (1,800 inputs, seed 20261205: a byte-level BPE in Llama-3/Qwen2 layout, a
/// Llama-2-layout SentencePiece BPE, and Mistral v0.3's real file cut to 540 pieces) and <c>tokenizer.model</c> (1,800
/// inputs, seed 20261206: the SentencePiece protobufs of tiny-random-llama and the organism, and Llama-3's tiktoken
/// ranks cut to 600 lines), <c>tokenizer_config.json</c> (500 inputs, seed 20261211) and <c>generation_config.json</c>
/// (200 inputs, seed 20261212), which say which tokens begin and end a text. Every input must load, or be refused with
/// <see cref="InvalidDataException"/> or <see cref="NotSupportedException"/> naming the file; see
/// <see cref="FileFuzzer"/>.
/// </summary>
public class TokenizerFuzzTests(ITestOutputHelper output)
{
    public const int JsonSeed = 20261205, JsonInputs = 1800;
    public const int ModelSeed = 20261206, ModelInputs = 1800;
    public const int ConfigSeed = 20261211, ConfigInputs = 500, GenerationSeed = 20261212, GenerationInputs = 200;

    private const string Sample = "Hello world! The quick brown fox, 1234 héllo 東京 😀 </s> <|eot_id|> [INST] x";

    /// <summary>Loads the folder and uses the tokenizer the way generation does.</summary>
    private static void LoadAndUse(string path, int index)
    {
        var tokenizer = ModelTokenizer.Load(Path.GetDirectoryName(path)!);
        var ids = tokenizer.Encode(Sample);
        _ = tokenizer.Decode(ids.Where(id => id >= 0 && id < tokenizer.VocabularySize),
            skipSpecialTokens: index % 2 == 0);
        _ = tokenizer.CountTokens(Sample);
        _ = tokenizer.EncodeChat([new ChatTurn(ChatRole.User, "Hi?")]);
        var decoder = tokenizer.CreateIncrementalDecoder();
        foreach (int id in ids.Take(16).Where(id => id >= 0 && id < tokenizer.VocabularySize)) decoder.Push(id);
        decoder.Flush();
        foreach (int id in ids.Take(4)) _ = tokenizer.TokenText(id);
    }

    [Fact]
    public void MutatedTokenizerJsonIsLoadedOrRefusedNamingTheFile()
    {
        var seeds = new[]
        {
            new JsonMutator(ByteLevelJson(), "byte-level"), new JsonMutator(SentencePieceJson(), "llama2-layout"),
            new JsonMutator(MistralCut(), "mistral-cut")
        };
        var result = FileFuzzer.Run(new FuzzSuite("tokenizer.json", JsonSeed, JsonInputs, "tokenizer.json",
            (r, i) => seeds[i % seeds.Length].Mutate(r), LoadAndUse)
        {
            Setup = folder => File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"),
                """{"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": true}"""),
        });
        output.WriteLine(result.Report());
        Assert.True(result.Failures.Count == 0, result.Report());
    }

    [Fact]
    public void MutatedTokenizerModelIsLoadedOrRefusedNamingTheFile()
    {
        var tiny = new ProtobufSeed(
            File.ReadAllBytes(RepoPaths.Path("samples", "models", "tiny-random-llama", "tokenizer.model")),
            "tiny-random-llama");
        var organism = new ProtobufSeed(
            File.ReadAllBytes(RepoPaths.Path("samples", "models", "organism", "tokenizer.model")), "organism");
        var tiktoken = File.ReadLines(SharedTokenizers.Seed("llama3.first600.tiktoken")).ToArray();
        var result = FileFuzzer.Run(new FuzzSuite("tokenizer.model", ModelSeed, ModelInputs, "tokenizer.model",
            (r, i) => (i % 3) switch { 0 => tiny.Mutate(r), 1 => organism.Mutate(r), _ => MutateTiktoken(r, tiktoken) },
            LoadAndUse));
        output.WriteLine(result.Report());
        Assert.True(result.Failures.Count == 0, result.Report());
    }

    [Fact]
    public void MutatedTokenizerConfigsAreLoadedOrRefusedNamingTheFile()
    {
        // tokenizer_config.json in its two token layouts (strings, and objects with "content"), and
        // generation_config.json, beside the cut Mistral tokenizer.json.
        string[] configs =
        [
            """{"add_bos_token": true, "add_eos_token": false, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": null, "legacy": false, "model_max_length": 1000000000000000019884624838656, "tokenizer_class": "LlamaTokenizer", "chat_template": "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}", "added_tokens_decoder": {"0": {"content": "<unk>", "special": true}, "1": {"content": "<s>", "special": true}, "2": {"content": "</s>", "special": true}}}""",
            """{"add_bos_token": true, "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false, "normalized": true, "rstrip": false, "single_word": false}, "eos_token": {"__type": "AddedToken", "content": "</s>"}, "pad_token": {"content": "<unk>"}, "chat_template": [{"name": "default", "template": "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"}, {"name": "tool_use", "template": "x"}]}""",
        ];
        string generation = """{"_from_model_config": true, "bos_token_id": 1, "eos_token_id": [2, 4], "pad_token_id": 0, "transformers_version": "4.42.0"}""";
        var configSeeds = configs.Select((c, i) => new JsonMutator(c, $"tokenizer_config {i}")).ToArray();
        var generationSeed = new JsonMutator(generation, "generation_config");
        void Setup(string folder) => File.WriteAllText(Path.Combine(folder, "tokenizer.json"), MistralCut());
        var config = FileFuzzer.Run(new FuzzSuite("tokenizer_config.json", ConfigSeed, ConfigInputs,
            "tokenizer_config.json",
            (r, i) => configSeeds[i % 2].Mutate(r), LoadAndUse) { Setup = Setup });
        var generated = FileFuzzer.Run(new FuzzSuite("generation_config.json", GenerationSeed, GenerationInputs,
            "generation_config.json",
            (r, _) => generationSeed.Mutate(r), LoadAndUse) { Setup = Setup });
        output.WriteLine(config.Report());
        output.WriteLine(generated.Report());
        Assert.True(config.Failures.Count + generated.Failures.Count == 0, config.Report() + generated.Report());
    }

    /// <summary>
    /// Llama-3's "base64 rank" lines: bad base64, ranks out of order, duplicated, negative, missing, huge.
    /// </summary>
    private static FuzzInput MutateTiktoken(Random r, string[] seed)
    {
        var lines = seed.ToList();
        var done = new List<string>();
        for (int k = 0, edits = 1 + r.Next(3); k < edits; k++)
        {
            int at = r.Next(lines.Count == 0 ? 1 : lines.Count);
            string line = lines.Count == 0 ? "" : lines[at];
            string[] parts = line.Split(' ');
            string edited;
            switch (r.Next(12))
            {
                case 0:
                    edited =
                        $"{parts[0]} {new[] { "-1", "2147483648", "99999999999", "x", "", "1.5", "0" }[r.Next(7)]}";
                    break;
                case 1:
                    edited = $"{new[] { "!!!", "Q", "QQ=", "====", "", "QUJD", "IQ==IQ==" }[r.Next(7)]}" +
                        $" {parts.ElementAtOrDefault(1)}";
                    break;
                case 2: edited = parts[0]; break;
                case 3: edited = line + " 7"; break;
                case 4: edited = r.Next(2) == 0 ? "" : " "; break;
                case 5: edited = line.Replace(' ', '\t'); break;
                case 6: edited = lines[r.Next(lines.Count)]; break;
                case 7:
                    lines.RemoveAt(at);
                    done.Add($"delete line {at + 1}");
                    continue;
                case 8:
                    lines.Insert(at, line);
                    done.Add($"duplicate line {at + 1}");
                    continue;
                case 9: edited = line + "\r"; break;
                case 10:
                    lines.RemoveRange(at, lines.Count - at);
                    done.Add($"cut after line {at}");
                    continue;
                default: edited = $"{parts[0]} {lines.Count + r.Next(-2, 3)}"; break;
            }
            if (lines.Count == 0) lines.Add(edited);
            else lines[at] = edited;
            done.Add($"line {at + 1} '{line}' → '{edited}'");
        }
        var bytes = Encoding.UTF8.GetBytes(string.Join('\n', lines) + "\n");
        if (r.Next(4) == 0)
        {
            var raw = ByteMutator.Mutate(r, bytes, null, "text");
            return new($"tiktoken: {string.Join("; ", done)}; {raw.Mutation}", raw.Bytes);
        }
        return new($"tiktoken: {string.Join("; ", done)}", bytes);
    }

    /// <summary>A byte-level BPE: GPT-2's 256 byte symbols, merges, Llama-3's split pattern, a BOS template.</summary>
    private static string ByteLevelJson()
    {
        var vocab = new JsonObject();
        var symbols = ByteLevel.Symbols();
        for (int i = 0; i < 256; i++) vocab[symbols[i]] = i;
        string[] pieces = ["Ġh", "Ġhi", "he", "ll", "llo", "hello", "Ġw", "or", "Ġwor", "ld"];
        for (int i = 0; i < pieces.Length; i++) vocab[pieces[i]] = 256 + i;
        var json = new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(
                new JsonObject { ["id"] = 300, ["content"] = "<|begin_of_text|>", ["special"] = true },
                new JsonObject { ["id"] = 301, ["content"] = "<|end_of_text|>", ["special"] = true },
                new JsonObject { ["id"] = 302, ["content"] = "<|start_header_id|>", ["special"] = true },
                new JsonObject { ["id"] = 303, ["content"] = "<|end_header_id|>", ["special"] = true },
                new JsonObject { ["id"] = 304, ["content"] = "<|eot_id|>", ["special"] = true }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject
                    {
                        ["type"] = "Split", ["behavior"] = "Isolated", ["invert"] = false,
                        ["pattern"] = new JsonObject
                        {
                            ["Regex"] = @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|" +
                                @" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
                        },
                    },
                    new JsonObject
                    {
                        ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true,
                        ["use_regex"] = false
                    }),
            },
            ["post_processor"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["processors"] = new JsonArray(
                    new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = true },
                    new JsonObject
                    {
                        ["type"] = "TemplateProcessing",
                        ["single"] = new JsonArray(
                            new JsonObject
                            {
                                ["SpecialToken"] = new JsonObject { ["id"] = "<|begin_of_text|>", ["type_id"] = 0 }
                            },
                            new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
                    }),
            },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["fuse_unk"] = false,
                ["byte_fallback"] = false, ["ignore_merges"] = true,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray(new JsonArray("Ġ", "h"), new JsonArray("Ġh", "i"), new JsonArray("h", "e"),
                    new JsonArray("l", "l"), new JsonArray("ll", "o"), new JsonArray("he", "llo"),
                    new JsonArray("Ġ", "w"), new JsonArray("o", "r"), new JsonArray("Ġw", "or"),
                    new JsonArray("l", "d")),
            },
        };
        return json.ToJsonString();
    }

    /// <summary>
    /// Llama-2's tokenizer.json layout: Prepend("▁") + Replace(" " → "▁"), byte fallback, an unk_token.
    /// </summary>
    private static string SentencePieceJson()
    {
        var vocab = new JsonObject { ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2 };
        for (int b = 0; b < 256; b++) vocab[$"<0x{b:X2}>"] = 3 + b;
        string[] pieces =
            ["▁", "h", "i", "▁h", "▁hi", "hi", "e", "l", "o", "ll", "▁he", "▁hel", "▁hello", "w", "r", "d"];
        for (int i = 0; i < pieces.Length; i++) vocab[pieces[i]] = 259 + i;
        var json = new JsonObject
        {
            ["normalizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["normalizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" },
                    new JsonObject
                    {
                        ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁"
                    }),
            },
            ["pre_tokenizer"] = null,
            ["post_processor"] = new JsonObject
            {
                ["type"] = "TemplateProcessing",
                ["single"] = new JsonArray(
                    new JsonObject { ["SpecialToken"] = new JsonObject { ["id"] = "<s>", ["type_id"] = 0 } },
                    new JsonObject { ["Sequence"] = new JsonObject { ["id"] = "A", ["type_id"] = 0 } }),
            },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["unk_token"] = "<unk>", ["byte_fallback"] = true, ["fuse_unk"] = true,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray("▁ h", "▁h i", "h i", "l l", "▁h e", "▁he l", "▁hel l", "▁hell o"),
            },
            ["added_tokens"] = new JsonArray(
                new JsonObject { ["id"] = 0, ["content"] = "<unk>", ["special"] = true },
                new JsonObject { ["id"] = 1, ["content"] = "<s>", ["special"] = true },
                new JsonObject { ["id"] = 2, ["content"] = "</s>", ["special"] = true }),
        };
        return json.ToJsonString();
    }

    /// <summary>
    /// Mistral v0.3's tokenizer.json (Metaspace, byte fallback) cut to its first 12 control tokens, the 256 byte tokens
    /// and the first 274 ordinary pieces, and the merges among them (tests/fixtures/tokenizer-seeds).
    /// </summary>
    private static string MistralCut() =>
        File.ReadAllText(SharedTokenizers.Seed("mistral-7b-v0.3.cut.tokenizer.json"));

    /// <summary>The committed cut is what <see cref="Cut"/> makes of the full file (when ../shared has it).</summary>
    [SkippableFact]
    public void TheMistralSeedIsTheCutOfTheRealFile()
    {
        var full = Path.Combine(SharedTokenizers.Folder("mistral-7b-v0.3"), "tokenizer.json");
        Assert.Equal(Cut(File.ReadAllText(full)), MistralCut());
    }

    private static string Cut(string tokenizerJson)
    {
        var json = JsonNode.Parse(tokenizerJson)!.AsObject();
        var model = json["model"]!.AsObject();
        var vocab = new JsonObject();
        foreach (var (piece, id) in model["vocab"]!.AsObject())
            if (id!.GetValue<int>() is < 12 or (>= 771 and < 1300)) vocab[piece] = id.GetValue<int>();
        var merges = new JsonArray();
        foreach (var merge in model["merges"]!.AsArray())
        {
            string[] pair = merge!.GetValue<string>().Split(' ');
            if (pair.Length == 2 && vocab.ContainsKey(pair[0]) && vocab.ContainsKey(pair[1])
                && vocab.ContainsKey(pair[0] + pair[1]))
                merges.Add(merge.GetValue<string>());
            if (merges.Count >= 300) break;
        }
        model["vocab"] = vocab;
        model["merges"] = merges;
        json["added_tokens"] = new JsonArray([.. json["added_tokens"]!.AsArray().Take(12).Select(t => t!.DeepClone())]);
        return json.ToJsonString();
    }
}

/// <summary>
/// A protobuf (SentencePiece's ModelProto) taken apart into its top-level fields, to mutate it the way files break:
/// fields dropped, repeated or swapped, length prefixes corrupted, wire types changed, and known fields overridden
/// (protobuf keeps the last value of a scalar): model_type, vocab_size, byte_fallback, unk/bos/eos/pad ids, a
/// piece's type and score, the normalizer's name.
/// </summary>
internal sealed class ProtobufSeed(byte[] bytes, string name)
{
    private readonly List<(int Field, int Start, int End)> _fields = Fields(bytes, 0, bytes.Length);

    public FuzzInput Mutate(Random r)
    {
        if (r.Next(4) == 0)
            return ByteMutator.Mutate(r, bytes, [.. _fields.Select(f => f.Start), bytes.Length], name);
        var fields = _fields.Select(f => bytes[f.Start..f.End]).ToList();
        var numbers = _fields.Select(f => f.Field).ToList();
        int at = r.Next(fields.Count);
        string what;
        switch (r.Next(10))
        {
            case 0:
                fields.RemoveAt(at);
                what = $"drop field {at} (#{numbers[at]})";
                break;
            case 1:
                fields.Insert(at, fields[r.Next(fields.Count)]);
                what = $"repeat a field at {at}";
                break;
            case 2:
            {
                int other = r.Next(fields.Count);
                (fields[at], fields[other]) = (fields[other], fields[at]);
                what = $"swap fields {at} and {other}";
                break;
            }
            case 3:
            {
                // The length prefix of a length-delimited field: huge, zero, one too many, one too few.
                var (tag, tagLength) = ReadVarint(fields[at], 0);
                if ((tag & 7) != 2) goto default;
                var (length, lengthBytes) = ReadVarint(fields[at], tagLength);
                ulong[] values =
                    [0, length + 1, length - 1, uint.MaxValue, int.MaxValue, (ulong)bytes.Length, 1UL << 40];
                ulong value = values[r.Next(values.Length)];
                fields[at] = [.. fields[at][..tagLength], .. Varint(value), .. fields[at][(tagLength + lengthBytes)..]];
                what = $"field {at} length {length} → {value}";
                break;
            }
            case 4:
            {
                var (tag, tagLength) = ReadVarint(fields[at], 0);
                ulong wire = (ulong)r.Next(8);
                fields[at] = [.. Varint((tag & ~7UL) | wire), .. fields[at][tagLength..]];
                what = $"field {at} wire type {tag & 7} → {wire}";
                break;
            }
            case 5 or 6:
            {
                // A piece (field 1): its type (3), score (2) or text (1) overridden.
                int piece = Enumerable.Range(0, _fields.Count).Where(i => _fields[i].Field == 1).OrderBy(_ => r.Next())
                    .FirstOrDefault();
                var (extra, desc) = r.Next(3) switch
                {
                    0 => (Scalar(3, new ulong[] { 0, 1, 2, 3, 4, 5, 6, 7, 99 }[r.Next(9)]), "type"),
                    1 => ([0x15, .. BitConverter.GetBytes(
                        new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity, -1e30f, 0f }[r.Next(5)])],
                        "score"),
                    _ => (Bytes(1, new[] { "", "<s>", "<unk>", "▁", "<0x41>", "<0xZZ>", "\uFFFD" }[r.Next(7)],
                        r.Next(6) == 0), "text"),
                };
                fields[piece] = AppendToMessage(fields[piece], extra);
                what = $"piece at field {piece}: {desc} overridden";
                break;
            }
            case 7:
            {
                // trainer_spec (field 2): model_type 3, vocab_size 4, byte_fallback 35, unk 40, bos 41, eos 42, pad 43.
                int spec = _fields.FindIndex(f => f.Field == 2);
                if (spec < 0) goto default;
                int[] known = [3, 4, 35, 40, 41, 42, 43];
                int field = known[r.Next(known.Length)];
                ulong value = new ulong[] { 0, 1, 2, 3, 4, 5, 100000, uint.MaxValue, ulong.MaxValue }[r.Next(9)];
                fields[spec] = AppendToMessage(fields[spec], Scalar(field, value));
                what = $"trainer_spec field {field} = {value}";
                break;
            }
            case 8:
            {
                // normalizer_spec (field 3): name 1, precompiled_charsmap 2, add_dummy_prefix 3,
                // remove_extra_whitespaces 4.
                int spec = _fields.FindIndex(f => f.Field == 3);
                if (spec < 0) goto default;
                var (extra, desc) = r.Next(4) switch
                {
                    0 => (Bytes(1, new[] { "nmt_nfkc", "nfkc", "identity", "nmt_nfkc_cf", "bogus", "" }[r.Next(6)],
                        false), "name"),
                    1 => ([.. Tag(2, 2), .. Varint(8), 1, 2, 3, 4, 5, 6, 7, 8], "precompiled_charsmap"),
                    2 => (Scalar(3, (ulong)r.Next(3)), "add_dummy_prefix"),
                    _ => (Scalar(4, (ulong)r.Next(3)), "remove_extra_whitespaces"),
                };
                fields[spec] = AppendToMessage(fields[spec], extra);
                what = $"normalizer_spec {desc} overridden";
                break;
            }
            default:
            {
                int cut = r.Next(1, fields[at].Length);
                fields[at] = fields[at][..cut];
                what = $"field {at} cut to {cut} bytes";
                break;
            }
        }
        return new($"{name}: {what}", [.. fields.SelectMany(f => f)]);
    }

    private static List<(int Field, int Start, int End)> Fields(byte[] b, int start, int end)
    {
        var fields = new List<(int, int, int)>();
        int at = start;
        while (at < end)
        {
            int begin = at;
            var (tag, n) = ReadVarint(b, at);
            at += n;
            switch (tag & 7)
            {
                case 0: at += ReadVarint(b, at).Length; break;
                case 1: at += 8; break;
                case 5: at += 4; break;
                case 2:
                    var (length, m) = ReadVarint(b, at);
                    at += m + (int)length;
                    break;
                default: throw new InvalidDataException($"The seed has wire type {tag & 7} at {begin}.");
            }
            fields.Add(((int)(tag >> 3), begin, at));
        }
        return fields;
    }

    private static (ulong Value, int Length) ReadVarint(byte[] b, int at)
    {
        ulong value = 0;
        int n = 0;
        while (at + n < b.Length)
        {
            byte x = b[at + n];
            value |= (ulong)(x & 0x7F) << (7 * n);
            n++;
            if ((x & 0x80) == 0 || n == 10) break;
        }
        return (value, n);
    }

    private static byte[] Varint(ulong value)
    {
        var bytes = new List<byte>();
        do
        {
            byte b = (byte)(value & 0x7F);
            value >>= 7;
            bytes.Add(value != 0 ? (byte)(b | 0x80) : b);
        }
        while (value != 0);
        return [.. bytes];
    }

    private static byte[] Tag(int field, int wire) => Varint(((ulong)field << 3) | (uint)wire);

    private static byte[] Scalar(int field, ulong value) => [.. Tag(field, 0), .. Varint(value)];

    private static byte[] Bytes(int field, string text, bool invalidUtf8)
    {
        byte[] payload = invalidUtf8 ? [0xC3, 0x28, 0xFF] : Encoding.UTF8.GetBytes(text);
        return [.. Tag(field, 2), .. Varint((ulong)payload.Length), .. payload];
    }

    /// <summary>
    /// A length-delimited field with <paramref name="extra"/> appended to its payload, its length fixed.
    /// </summary>
    private static byte[] AppendToMessage(byte[] field, byte[] extra)
    {
        var (_, tagLength) = ReadVarint(field, 0);
        var (length, lengthBytes) = ReadVarint(field, tagLength);
        var payload = field[(tagLength + lengthBytes)..];
        return [.. field[..tagLength], .. Varint(length + (ulong)extra.Length), .. payload, .. extra];
    }
}

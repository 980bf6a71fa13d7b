using System.Text.Json.Nodes;
using RetrievalGuard.Engine.Tests.Support;
using RetrievalGuard.Engine.Tokenization;

namespace RetrievalGuard.Engine.Tests.Tokenization;

/// <summary>
/// Hand-made tokenizer folders: tokenizer.json parsing, config precedence, chat formats, and bad input.
/// </summary>
public class TokenizerFilesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rg-tok-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A tiny byte-level BPE: the 256 byte symbols, two merges, and special tokens.</summary>
    private void WriteByteLevelTokenizerJson(bool withTemplate = false)
    {
        var vocab = new JsonObject();
        var symbols = ByteLevel.Symbols();
        for (int i = 0; i < 256; i++) vocab[symbols[i]] = i;
        vocab["Ġh"] = 256;
        vocab["Ġhi"] = 257;
        var json = new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = new JsonArray("Ġ h", "Ġh i")
            },
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject
                    {
                        ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = @" ?\p{L}+|\s+|[^\s\p{L}]+" }
                    },
                    new JsonObject { ["type"] = "ByteLevel" }),
            },
            ["added_tokens"] = new JsonArray(
                new JsonObject { ["id"] = 258, ["content"] = "<bos>", ["special"] = true },
                new JsonObject { ["id"] = 259, ["content"] = "<eos>", ["special"] = true },
                new JsonObject { ["id"] = 260, ["content"] = "<|im_start|>", ["special"] = true },
                new JsonObject { ["id"] = 261, ["content"] = "<|im_end|>", ["special"] = true }),
        };
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), json.ToJsonString());
        var config = new JsonObject
        {
            ["bos_token"] = new JsonObject { ["content"] = "<bos>" }, ["eos_token"] = "<eos>", ["add_bos_token"] = true
        };
        if (withTemplate)
            config["chat_template"] =
                "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}";
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), config.ToJsonString());
    }

    /// <summary>
    /// A tiny SentencePiece-style BPE in Llama-2's tokenizer.json layout: normalizers Prepend("▁") and
    /// Replace(" " → "▁"), no pre-tokenizer, byte fallback over &lt;0x00&gt; … &lt;0xFF&gt; at ids 3 … 258,
    /// and no tokenizer.model.
    /// </summary>
    private void WriteSentencePieceTokenizerJson(JsonObject? normalizer = null)
    {
        var vocab = new JsonObject { ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2 };
        for (int b = 0; b < 256; b++) vocab[$"<0x{b:X2}>"] = 3 + b;
        string[] pieces = ["▁", "h", "i", "▁h", "▁hi", "hi"];
        for (int i = 0; i < pieces.Length; i++) vocab[pieces[i]] = 259 + i;
        var json = new JsonObject
        {
            ["normalizer"] = normalizer ?? new JsonObject
            {
                ["type"] = "Sequence",
                ["normalizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Prepend", ["prepend"] = "▁" },
                    new JsonObject
                    {
                        ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁",
                    }),
            },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["unk_token"] = "<unk>", ["byte_fallback"] = true, ["vocab"] = vocab,
                ["merges"] = new JsonArray("▁ h", "▁h i", "h i"),
            },
            ["added_tokens"] = new JsonArray(
                new JsonObject { ["id"] = 1, ["content"] = "<s>", ["special"] = true },
                new JsonObject { ["id"] = 2, ["content"] = "</s>", ["special"] = true }),
        };
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), json.ToJsonString());
        string config = """{"bos_token": "<s>", "add_bos_token": true}""";
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), config);
    }

    [Fact]
    public void SentencePieceTokenizerJsonWithoutTokenizerModelMergesAndFallsBackToBytes()
    {
        WriteSentencePieceTokenizerJson();
        var t = ModelTokenizer.Load(_dir);
        Assert.Equal("tokenizer.json SentencePiece BPE", t.Kind);
        // "▁hi▁hi😀": ranks make ▁h before hi, so each word is ▁hi; 😀 (F0 9F 98 80) has no piece.
        var ids = t.Encode("hi hi😀");
        Assert.Equal(new[] { 1, 263, 263, 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80 }, ids);
        Assert.Equal("hi hi😀", t.Decode(ids, skipSpecialTokens: true));
        // The dummy prefix goes after leading added tokens; a text right after a later one gets none.
        Assert.Equal(new[] { 2, 263, 2, 264 }, t.Encode("</s>hi</s>hi", addBos: false));
        Assert.Equal("</s>hi</s>hi", t.Decode([2, 263, 2, 264]));
        Assert.Equal(new[] { 259, 263 }, t.Encode(" hi", addBos: false));
        Assert.Equal(" hi", t.Decode([259, 263]));
    }

    [Fact]
    public void UnsupportedTokenizerJsonIsRefusedNamingTheFileAndField()
    {
        string path = Path.Combine(_dir, "tokenizer.json");
        File.WriteAllText(path, """{"model": {"type": "WordPiece", "vocab": {}}}""");
        var type = Assert.Throws<NotSupportedException>(() => ModelTokenizer.Load(_dir)).Message;
        Assert.StartsWith(path + ":", type);
        Assert.Contains("'WordPiece'", type);
        WriteSentencePieceTokenizerJson(new JsonObject { ["type"] = "NFKC" });
        var normalizer = Assert.Throws<NotSupportedException>(() => ModelTokenizer.Load(_dir)).Message;
        Assert.StartsWith(path + ":", normalizer);
        Assert.Contains("normalizer 'NFKC'", normalizer);
        File.WriteAllText(path, """
            {"model": {"type": "BPE", "vocab": {"a": 0}}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": " "}}}
            """);
        var preTokenizer = Assert.Throws<NotSupportedException>(() => ModelTokenizer.Load(_dir)).Message;
        Assert.Contains("pre_tokenizer 'Split'", preTokenizer);
    }

    [Fact]
    public void ByteLevelTokenizerJsonMergesAndParsesSpecialTokens()
    {
        WriteByteLevelTokenizerJson();
        var t = ModelTokenizer.Load(_dir);
        Assert.Equal(new[] { 258, 'a', 257 }, t.Encode("a hi"));
        Assert.Equal(new[] { 260, 257, 261 }, t.Encode("<|im_start|> hi<|im_end|>", addBos: false));
        Assert.Equal(258, t.BosId);
        Assert.Equal(new[] { 259, 261 }, t.StopTokenIds.Order());
        Assert.Equal("a hi", t.Decode([258, 'a', 257], skipSpecialTokens: true));
        Assert.Equal(262, t.VocabularySize);
    }

    [Fact]
    public void GenerationConfigAddsStopTokensAndTemplateChoosesTheFormat()
    {
        WriteByteLevelTokenizerJson(withTemplate: true);
        File.WriteAllText(Path.Combine(_dir, "generation_config.json"), """{"eos_token_id": [259, 100]}""");
        var t = ModelTokenizer.Load(_dir);
        Assert.Equal("chatml", t.ChatFormat.Name);
        Assert.Equal(new[] { 100, 259, 261 }, t.StopTokenIds.Order());
        // ChatML has no BOS text, so the tokenizer's own add_bos applies.
        Assert.Equal(258, t.EncodeChat([new ChatTurn(ChatRole.User, "hi")])[0]);
    }

    [Fact]
    public void ChatFormatsProduceTheFamiliesExactText()
    {
        ChatTurn[] turns =
        [
            new(ChatRole.System, "Be brief."), new(ChatRole.User, "Hi?"), new(ChatRole.Assistant, "Hello."),
            new(ChatRole.User, "Bye?")
        ];
        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nHi?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nBye?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n", ChatFormat.Llama3.Format(turns));
        Assert.Equal(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n" +
            "<|im_start|>assistant\nHello.<|im_end|>\n" +
            "<|im_start|>user\nBye?<|im_end|>\n<|im_start|>assistant\n", ChatFormat.ChatMl.Format(turns));
        Assert.Equal("<s>[INST] Be brief.\n\nHi? [/INST] Hello.</s>[INST] Bye? [/INST]",
            ChatFormat.MistralInstruct.Format(turns));
        Assert.Equal("Be brief.\n\nHi?\n\nHello.\n\nBye?", ChatFormat.Plain.Format(turns));
        Assert.Throws<ArgumentException>(() => ChatFormat.Llama3.Format([]));
        Assert.Equal("plain", ChatFormat.Detect(null).Name);
        Assert.Equal("mistral", ChatFormat.Detect("{{ '[INST] ' + message['content'] }}").Name);
    }

    [Fact]
    public void BadFoldersAndFilesAreNamedInTheError()
    {
        Assert.Contains("has no tokenizer",
            Assert.Throws<FileNotFoundException>(() => ModelTokenizer.Load(_dir)).Message);
        Assert.Throws<DirectoryNotFoundException>(() => ModelTokenizer.Load(Path.Combine(_dir, "missing")));
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), "{ not json");
        var bad = Assert.Throws<InvalidDataException>(() => ModelTokenizer.Load(_dir));
        Assert.Contains("tokenizer.json", bad.Message);
        File.WriteAllText(Path.Combine(_dir, "tokenizer.json"), """{"model": {"type": "Unigram"}}""");
        Assert.Contains("'Unigram' is not supported",
            Assert.Throws<NotSupportedException>(() => ModelTokenizer.Load(_dir)).Message);
        File.Delete(Path.Combine(_dir, "tokenizer.json"));
        File.WriteAllBytes(Path.Combine(_dir, "tokenizer.model"), [1, 2, 3, 4, 5]);
        Assert.Contains("tokenizer.model",
            Assert.Throws<InvalidDataException>(() => ModelTokenizer.Load(_dir)).Message);
    }

    [Fact]
    public void DecodingAnIdOutsideTheVocabularyIsRefused()
    {
        WriteByteLevelTokenizerJson();
        var t = ModelTokenizer.Load(_dir);
        Assert.Contains("outside the vocabulary",
            Assert.Throws<ArgumentOutOfRangeException>(() => t.Decode([5000])).Message);
    }
}

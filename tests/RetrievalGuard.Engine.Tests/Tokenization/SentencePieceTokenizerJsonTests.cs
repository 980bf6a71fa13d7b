using RetrievalGuard.Engine.Tests.Support;
using RetrievalGuard.Engine.Tokenization;

namespace RetrievalGuard.Engine.Tests.Tokenization;

/// <summary>
/// Mistral's folder (../shared/tokenizers) loaded twice: its tokenizer.json alone (in a temp folder), and as it
/// ships. Loaded when a test first asks; a test asking without ../shared skips.
/// </summary>
public sealed class MistralTokenizerPair : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("rg-tok-json-").FullName;
    private readonly Lazy<(ModelTokenizer Json, ModelTokenizer Model)> _pair;

    public MistralTokenizerPair() => _pair = new(() =>
    {
        var original = SharedTokenizers.Folder("mistral-7b-v0.3");
        foreach (string file in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
            File.Copy(Path.Combine(original, file), Path.Combine(_dir, file));
        return (ModelTokenizer.Load(_dir), ModelTokenizer.Load(original));
    });

    public ModelTokenizer FromJson => Loaded().Json;

    /// <summary>With tokenizer.model next to tokenizer.json, the SentencePiece model is what loads.</summary>
    public ModelTokenizer FromModel => Loaded().Model;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private (ModelTokenizer Json, ModelTokenizer Model) Loaded()
    {
        SharedTokenizers.Folder("mistral-7b-v0.3"); // skips before the lazy value could cache a failure
        return _pair.Value;
    }
}

/// <summary>A SentencePiece-style tokenizer.json without tokenizer.model gives tokenizer.model's ids.</summary>
public class SentencePieceTokenizerJsonTests(MistralTokenizerPair mistral) : IClassFixture<MistralTokenizerPair>
{
    /// <summary>Mistral v0.3's &lt;0x00&gt; … &lt;0xFF&gt; byte tokens.</summary>
    private const int FirstByteId = 771;

    public static TheoryData<string> Texts => new()
    {
        "Hello world",
        "The quick brown fox jumps over the lazy dog.",
        "Retrieval-augmented generation grounds answers in sources.",
        " leading space",
        "  two leading spaces",
        "trailing space ",
        "trailing spaces   ",
        "multiple   spaces   inside",
        " ",
        "   ",
        "line one\nline two",
        "\n\nstarts with newlines",
        "ends with a newline\n",
        "\r\nWindows line ends\r\n",
        "tab\tseparated\tvalues",
        "\t indented with a tab",
        "Digits 0123456789 and pi 3.14159",
        "1,234,567.89 + 42 = 1234609.89",
        "Punctuation!? (yes) [no] {maybe}; \"quoted\" 'single' -- ... :-)",
        "email@example.com https://example.org/path?q=1&r=2#frag",
        "for (int i = 0; i < n; i++) { sum += a[i]; }",
        "Café naïve résumé façade",
        "Ångström, Øresund, Straße, Œuvre, ÄÖÜ äöü",
        "Привет, мир",
        "東京は日本の首都です。",
        "中文测试：你好，世界！",
        "한국어 텍스트",
        "مرحبا بالعالم",
        "non\u00A0breaking\u00A0space",
        "🦀🧬",
        "emoji 👍🏽 and a family 👨‍👩‍👧 mixed in",
        "Hello </s> world",
        "</s>starts with a special token",
        "ends with a special token</s>",
        "<s>[INST] What is 2+2? [/INST] 4</s>",
        "a",
        "",
    };

    [SkippableTheory]
    [MemberData(nameof(Texts))]
    public void TokenizerJsonMatchesTokenizerModelIdForIdAndRoundTrips(string text)
    {
        var ids = mistral.FromJson.Encode(text, addBos: false);
        Assert.Equal(mistral.FromModel.Encode(text, addBos: false), ids);
        Assert.Equal(text, mistral.FromJson.Decode(ids));
        Assert.Equal(ids.Count, mistral.FromJson.CountTokens(text));
    }

    [SkippableFact]
    public void TheComparisonIsBetweenTheTwoFormats()
    {
        Assert.Equal("tokenizer.json SentencePiece BPE", mistral.FromJson.Kind);
        Assert.Equal("tokenizer.model SentencePiece", mistral.FromModel.Kind);
        Assert.Equal(mistral.FromModel.VocabularySize, mistral.FromJson.VocabularySize);
    }

    [SkippableFact]
    public void JsonOnlyFolderHasBosStopsAndChatFormat()
    {
        var t = mistral.FromJson;
        Assert.Equal(1, t.BosId);
        Assert.Equal(1, t.Encode("Hello")[0]);
        Assert.Equal(2, Assert.Single(t.StopTokenIds));
        Assert.Equal("mistral", t.ChatFormat.Name);
        var chat = t.EncodeChat([new ChatTurn(ChatRole.User, "Hi")]);
        Assert.Equal(new[] { 1, 3 }, chat.Take(2));
        Assert.Contains(4, chat);
    }

    [SkippableFact]
    public void CharactersWithoutAPieceFallBackToByteTokens()
    {
        var ids = mistral.FromJson.Encode("🦀", addBos: false);
        Assert.Equal(new[] { 0xF0, 0x9F, 0xA6, 0x80 }, ids.Skip(1).Select(id => id - FirstByteId));
        Assert.Equal("🦀", mistral.FromJson.Decode(ids));
        Assert.Contains(2, mistral.FromJson.Encode("a</s>b", addBos: false));
    }

    /// <summary>
    /// Equal pairs merge leftmost first, as in SentencePiece's bpe_model.cc and Hugging Face's BPE: "▁====" becomes
    /// ▁= = = =, then ▁= == = (the left "==" of two), then ▁=== =. Microsoft.ML.Tokenizers 2.0.1's SentencePiece
    /// BPE, which the tokenizer.model path uses, takes the rightmost and gives ▁== ==; such strings are left out above.
    /// </summary>
    [SkippableFact]
    public void EqualPairsMergeLeftmostFirstAsSentencePieceDoes()
    {
        Assert.Equal(new[] { 3540, 29514 }, mistral.FromJson.Encode("====", addBos: false));
        // 15 spaces all score alike in the model, so the leftmost run grows first: ▁×14, ▁, then ▁return.
        var ids = mistral.FromJson.Encode(new string(' ', 15) + "return", addBos: false);
        Assert.Equal(new[] { 2185, 29473, 1372 }, ids);
    }

    [SkippableFact]
    public void StreamsByteFallbackCharactersWhole()
    {
        const string text = "Crab 🦀 and 東京\n";
        var ids = mistral.FromJson.Encode(text, addBos: false);
        var decoder = mistral.FromJson.CreateIncrementalDecoder();
        Assert.Equal(text, string.Concat(ids.Select(decoder.Push)) + decoder.Flush());
    }
}

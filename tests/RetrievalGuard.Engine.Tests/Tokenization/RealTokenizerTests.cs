using RetrievalGuard.Engine.Tests.Support;
using RetrievalGuard.Engine.Tokenization;

namespace RetrievalGuard.Engine.Tests.Tokenization;

/// <summary>The four families' real tokenizer files (../shared/tokenizers) against published reference ids.</summary>
public class RealTokenizerTests
{
    private static ModelTokenizer Load(string family) => ModelTokenizer.Load(SharedTokenizers.Folder(family));

    [SkippableFact]
    public void Llama3TiktokenMatchesMetasTestVector()
    {
        var t = Load("llama3");
        Assert.Equal(new[] { 2028, 374, 264, 1296, 11914, 13 }, t.Encode("This is a test sentence.", addBos: false));
        Assert.Equal(new[] { 128000, 9906, 1917 }, t.Encode("<|begin_of_text|>Hello world", addBos: false));
        Assert.Equal(new[] { 128000, 9906 }, t.Encode("Hello"));
        Assert.Equal(128000, t.BosId);
        Assert.Contains(128001, t.StopTokenIds);
        Assert.Contains(128009, t.StopTokenIds);
        Assert.Equal("llama3", t.ChatFormat.Name);
        Assert.Equal(128256, t.VocabularySize);
    }

    [SkippableFact]
    public void Qwen2ByteLevelBpeMatchesReferenceIds()
    {
        var t = Load("qwen2");
        Assert.Equal(new[] { 9707 }, t.Encode("Hello"));
        Assert.Equal(new[] { 1879 }, t.Encode(" world"));
        Assert.Null(t.BosId);
        Assert.Equal(new[] { 151644, 872, 198, 9707, 151645 }, t.Encode("<|im_start|>user\nHello<|im_end|>"));
        Assert.Equal("chatml", t.ChatFormat.Name);
        Assert.Contains(151643, t.StopTokenIds);
        Assert.Contains(151645, t.StopTokenIds);
    }

    [SkippableFact]
    public void Llama2SentencePieceAddsBosAndKnowsItsControlTokens()
    {
        var t = Load("llama2");
        var ids = t.Encode("Hello world");
        Assert.Equal(1, ids[0]);
        Assert.Equal("Hello world", t.Decode(ids, skipSpecialTokens: true));
        Assert.Equal(2, Assert.Single(t.StopTokenIds));
        Assert.Equal(32000, t.VocabularySize);
    }

    [SkippableFact]
    public void MistralUsesItsInstTemplateAndControlTokens()
    {
        var t = Load("mistral-7b-v0.3");
        Assert.Equal("mistral", t.ChatFormat.Name);
        Assert.Equal(1, t.BosId);
        var ids = t.EncodeChat([new ChatTurn(ChatRole.User, "Hi")]);
        Assert.Equal(1, ids[0]);
        Assert.Equal(1, ids.Count(i => i == 1));
        Assert.Equal(3, ids[1]); // [INST] is one control token in v0.3
        Assert.Contains(4, ids); // [/INST]
    }

    public static TheoryData<string> Families => new() { "llama3", "qwen2", "llama2", "mistral-7b-v0.3" };

    [SkippableTheory]
    [MemberData(nameof(Families))]
    public void RoundTripsAndStreamsNonAsciiText(string family)
    {
        var t = Load(family);
        const string text = "Café – 東京 at 3:45pm 🎉 naïve\nnew line";
        var ids = t.Encode(text, addBos: false);
        Assert.Equal(text, t.Decode(ids));
        Assert.Equal(ids.Count, t.CountTokens(text));
        var decoder = t.CreateIncrementalDecoder();
        string streamed = string.Concat(ids.Select(decoder.Push)) + decoder.Flush();
        Assert.Equal(text, streamed);
    }
}

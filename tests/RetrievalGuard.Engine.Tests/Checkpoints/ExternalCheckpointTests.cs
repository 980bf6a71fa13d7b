using RetrievalGuard.Engine.Tests.Support;
using RetrievalGuard.Engine.Tokenization;
using RetrievalGuard.Engine.Generation;

namespace RetrievalGuard.Engine.Tests.Checkpoints;

/// <summary>
/// A checkpoint nobody on the project made (../shared/models/tiny-random-llama-external, see its SOURCE.md): its
/// greedy ids match candle's, and its SentencePiece-style tokenizer.json (no tokenizer.model) loads.
/// </summary>
public class ExternalCheckpointTests
{
    private static readonly string Folder = Path.GetFullPath(Path.Combine(RepoPaths.Root, "..", "shared", "models",
        "tiny-random-llama-external"));

    private static LanguageModel Load()
    {
        Skip.IfNot(Directory.Exists(Folder), $"{Folder} is not here (CI and the workplace have it).");
        return LanguageModel.Load(Folder);
    }

    [SkippableTheory]
    [InlineData(new[] { 1, 2, 3 }, new[] { 18568, 1727, 8705, 3598, 27426, 4496, 998, 16911 })]
    [InlineData(new[] { 1 }, new[] { 5971, 10641, 15242, 14848, 10055, 26470, 19519, 21315 })]
    public void GreedyIdsMatchTheReferenceImplementations(int[] prompt, int[] expected)
    {
        using var model = Load();
        var ids = model.GenerateTokens(prompt, new GenerationOptions { MaxNewTokens = 8, StopTokenIds = [] })
            .Select(t => t.Id);
        Assert.Equal(expected, ids);
    }

    [SkippableFact]
    public void ItsTokenizerJsonLoadsAndTheBosDisagreementIsSaid()
    {
        using var model = Load();

        Assert.True(model.HasTokenizer);
        Assert.Equal(1, model.Tokenizer.Encode("Hello")[0]);
        Assert.Equal("Hello world", model.Tokenizer.Decode(model.Tokenizer.Encode("Hello world").Skip(1)));
        Assert.Contains(model.Notes, n => n.Contains("bos_token_id 0", StringComparison.Ordinal)
            && n.Contains("BOS is 1", StringComparison.Ordinal));
    }
}

/// <summary>
/// The external checkpoint's tokenizer.json is LLaMA's vocabulary in the Prepend+Replace style (no tokenizer.model);
/// Llama-2's tokenizer.model (../shared/tokenizers) holds the same 32,000 pieces, so both must give the same ids.
/// </summary>
public class LlamaTokenizerJsonTests
{
    private static readonly string Folder = Path.GetFullPath(Path.Combine(RepoPaths.Root, "..", "shared", "models",
        "tiny-random-llama-external"));

    private static readonly Lazy<(ModelTokenizer Json, ModelTokenizer Model)> Pair = new(() =>
        (ModelTokenizer.Load(Folder),
            ModelTokenizer.Load(Path.Combine(SharedTokenizers.Root, "llama2"))));

    public static TheoryData<string> Texts => Tokenization.SentencePieceTokenizerJsonTests.Texts;

    [SkippableTheory]
    [MemberData(nameof(Texts))]
    public void TokenizerJsonMatchesLlama2TokenizerModelIdForId(string text)
    {
        Skip.IfNot(Directory.Exists(Folder), $"{Folder} is not here (CI and the workplace have it).");
        SharedTokenizers.Folder("llama2");
        var (json, model) = Pair.Value;
        Assert.Equal("tokenizer.json SentencePiece BPE", json.Kind);
        Assert.Equal(model.Encode(text, addBos: false), json.Encode(text, addBos: false));
    }
}

using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Tests.Support;
using RetrievalGuard.Engine.Tokenization;

namespace RetrievalGuard.Engine.Tests.Generation;

/// <summary>The facade end to end on the demo checkpoint: text in, streamed text out.</summary>
public class LanguageModelTests
{
    private static LanguageModel Demo() => LanguageModel.Load(RepoPaths.Path("samples", "models", "tiny-random-llama"));

    [Fact]
    public async Task StreamedTextIsTheDecodingOfTheStreamedIds()
    {
        using var model = Demo();
        var tokens = new List<GeneratedToken>();
        await foreach (var token in model.GenerateAsync("It is a truth universally acknowledged",
            new GenerationOptions { MaxNewTokens = 20 }))
            tokens.Add(token);
        Assert.Equal(20, tokens.Count);
        var ids = tokens.TakeWhile(t => !t.IsStop).Select(t => t.Id).ToList();
        Assert.Equal(model.Tokenizer.Decode(ids), string.Concat(tokens.Select(t => t.Text)));
        Assert.All(tokens, t => Assert.True(t.LogProb <= 0 && t.Entropy >= 0));
    }

    [Fact]
    public async Task RequestsReuseOneCacheWithoutLeakingBetweenThem()
    {
        // A tiny model of 4,096 positions: a long request must grow the reusable cache past its first 1,024.
        using var model = LanguageModel.FromNetwork(TinyModels.Create(), tokenizer: null);
        async Task<List<int>> Ids(int[] prompt, int n)
        {
            var ids = new List<int>();
            var options = new GenerationOptions { MaxNewTokens = n, StopTokenIds = [] };
            await foreach (var token in model.GenerateAsync(prompt, options, cache: null)) ids.Add(token.Id);
            return ids;
        }
        int[] shortPrompt = [3, 14, 15, 92];
        var first = await Ids(shortPrompt, 12);
        var longer = await Ids(
            Enumerable.Range(0, 1900).Select(i => (i * 7 % 90) + 1).ToArray(), 40); // grows the cache
        Assert.Equal(40, longer.Count);
        Assert.Equal(first, await Ids(shortPrompt, 12));
        model.ReleaseCache();
        Assert.Equal(first, await Ids(shortPrompt, 12));
    }

    [Fact]
    public async Task ProbedHeadsAttentionComesWithEveryToken()
    {
        using var model = Demo();
        using var probe = model.CreateProbe([new Probes.HeadIndex(1, 0), new Probes.HeadIndex(0, 3)]);
        int prompt = model.Tokenizer.Encode("Mr. Darcy").Count;
        int n = 0;
        await foreach (var token in model.GenerateAsync("Mr. Darcy",
            new GenerationOptions { MaxNewTokens = 5, Probe = probe }))
        {
            Assert.NotNull(token.Attention);
            Assert.Equal(2, token.Attention!.Length);
            Assert.Equal(prompt + n, token.Attention[0].Length);
            Assert.Equal(1.0, token.Attention[0].Sum(), 4);
            n++;
        }
    }

    [Fact]
    public async Task CancellationEndsTheStream()
    {
        using var model = Demo();
        using var cts = new CancellationTokenSource();
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in model.GenerateAsync("Emma", new GenerationOptions { MaxNewTokens = 100 },
                cts.Token))
                if (++seen == 2) cts.Cancel();
        });
        Assert.Equal(2, seen);
    }

    [Fact]
    public void ModelsWithoutATokenizerSayHowToUseThem()
    {
        using var model = LanguageModel.Load(RepoPaths.Path("tests", "fixtures", "parity", "qwen2"));
        Assert.False(model.HasTokenizer);
        Assert.Contains("give token ids instead of text",
            Assert.Throws<InvalidOperationException>(() => model.Tokenizer).Message);
        Assert.Throws<DirectoryNotFoundException>(() => LanguageModel.Load("/no/such/model"));
        Assert.Equal("plain", ChatFormat.Plain.Name);
    }
}

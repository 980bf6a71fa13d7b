using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Tests.Support;

namespace RetrievalGuard.Engine.Tests.Generation;

public class PositionLimitTests
{
    [Fact]
    public void RequestsPastTheModelsPositionsAreRefusedBeforeAnyWorkWithTheNumbers()
    {
        using var network = TinyModels.Create(TinyModels.Config() with { MaxPositionEmbeddings = 64 });
        using var model = LanguageModel.FromNetwork(network, tokenizer: null);
        var prompt = Enumerable.Range(1, 60).ToArray();

        var error = Assert.Throws<ContextLengthException>(
            () => model.GenerateTokens(prompt, new GenerationOptions { MaxNewTokens = 10 }));
        Assert.Equal((70, 64), (error.Tokens, error.Positions));
        Assert.Contains("60 tokens", error.Message, StringComparison.Ordinal);
        Assert.Contains("64 positions", error.Message, StringComparison.Ordinal);
        Assert.Contains("at most 4 new tokens", error.Message, StringComparison.Ordinal);
        Assert.Equal(4,
            model.GenerateTokens(prompt, new GenerationOptions { MaxNewTokens = 4, StopTokenIds = [] }).Count());
        using var cache = network.CreateCache(128);
        Assert.Throws<ContextLengthException>(() => TokenGenerator.Generate(network, prompt, cache,
            new GenerationOptions { MaxNewTokens = 5 }, []).First());
    }
}

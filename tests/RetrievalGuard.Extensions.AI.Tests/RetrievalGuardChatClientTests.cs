using Microsoft.Extensions.AI;
using RetrievalGuard.Extensions.AI.Tests.Support;
using RetrievalGuard.Guard;

namespace RetrievalGuard.Extensions.AI.Tests;

public sealed class RetrievalGuardChatClientTests(GuardFixture fixture) : IClassFixture<GuardFixture>
{
    private static ChatOptions WithPassages(int maxTokens = 32) => new()
    {
        MaxOutputTokens = maxTokens,
        AdditionalProperties = new() { [GuardKeys.Passages] = GuardFixture.Passages },
    };

    [Fact]
    public async Task TheLocalModelAnswersFromThePassagesWithTheReport()
    {
        using IChatClient client = new RetrievalGuardChatClient(fixture.Guard);

        var response = await client.GetResponseAsync([new(ChatRole.User, GuardFixture.Question)], WithPassages());

        Assert.Contains("baker", response.Text, StringComparison.OrdinalIgnoreCase);
        var report = Assert.IsType<GuardReport>(response.AdditionalProperties![GuardKeys.Report]);
        Assert.Equal(response.Text, report.Answer);
        Assert.InRange(report.Risk, 0, 1);
        Assert.Equal("organism", client.GetService<ChatClientMetadata>()!.DefaultModelId);
        Assert.Same(fixture.Guard, client.GetService<HallucinationGuard>());
    }

    [Fact]
    public async Task EveryStreamedUpdateCarriesTheRiskSoFarAndTheLastTheReport()
    {
        using IChatClient client = new RetrievalGuardChatClient(fixture.Guard);
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync([new(ChatRole.User, GuardFixture.Question)],
            WithPassages()))
            updates.Add(update);

        Assert.All(updates, u => Assert.InRange((double)u.AdditionalProperties![GuardKeys.Risk]!, 0, 1));
        var report = Assert.IsType<GuardReport>(updates[^1].AdditionalProperties![GuardKeys.Report]);
        Assert.Equal(report.Risk, (double)updates[^1].AdditionalProperties![GuardKeys.Risk]!);
        Assert.Equal(ChatFinishReason.Stop, updates[^1].FinishReason);
        Assert.Equal(report.Answer, string.Concat(updates.Select(u => u.Text)).Trim());
    }

    [Fact]
    public async Task CancellingMidStreamStopsDecodingAndTheNextRequestIsAnsweredNormally()
    {
        using IChatClient client = new RetrievalGuardChatClient(fixture.Guard);
        using var cancel = new CancellationTokenSource();
        var received = 0;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var update in client.GetStreamingResponseAsync([new(ChatRole.User, GuardFixture.Question)],
                WithPassages(), cancel.Token))
            {
                if (++received == 2)
                    await cancel.CancelAsync();
            }
        });
        Assert.Equal(2, received);

        var response = await client.GetResponseAsync([new(ChatRole.User, GuardFixture.Question)], WithPassages());
        Assert.Contains("baker", response.Text, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The KV cache per request: by name (headaware keeps the guard's retrieval heads whole) or as a policy.
    /// </summary>
    [Fact]
    public async Task EachRequestCanChooseItsKvCache()
    {
        using IChatClient client = new RetrievalGuardChatClient(fixture.Guard);
        ChatOptions With(object cache)
        {
            var options = WithPassages();
            options.AdditionalProperties![GuardKeys.Cache] = cache;
            return options;
        }

        var headAware = await client.GetResponseAsync([new(ChatRole.User, GuardFixture.Question)], With("headaware"));
        var tiny = await client.GetResponseAsync([new(ChatRole.User, GuardFixture.Question)],
            With(RetrievalGuard.Engine.Caches.KvCachePolicy.Streaming(sinkTokens: 2, window: 8)));
        var unknown = await Assert.ThrowsAsync<ArgumentException>(() =>
            client.GetResponseAsync([new(ChatRole.User, GuardFixture.Question)], With("lru")));

        Assert.Contains("baker", headAware.Text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("baker", tiny.Text, StringComparison.OrdinalIgnoreCase);
        Assert.StartsWith($"ChatOptions.AdditionalProperties[\"{GuardKeys.Cache}\"]: Unknown cache policy 'lru'",
            unknown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutPassagesItIsAPlainChat()
    {
        using IChatClient client = new RetrievalGuardChatClient(fixture.Guard);

        var response = await client.GetResponseAsync([new(ChatRole.User, "What is the trade of Zo Vrakul?")],
            new ChatOptions { MaxOutputTokens = 8 });

        Assert.Null(response.AdditionalProperties);
        Assert.NotNull(response.Text);
    }

    [Fact]
    public async Task PassagesOfAnotherTypeAreRefusedByName()
    {
        using IChatClient client = new RetrievalGuardChatClient(fixture.Guard);
        var options = new ChatOptions { AdditionalProperties = new() { [GuardKeys.Passages] = 42 } };

        var error = await Assert.ThrowsAsync<ArgumentException>(() =>
            client.GetResponseAsync([new(ChatRole.User, GuardFixture.Question)], options));
        Assert.Contains(GuardKeys.Passages, error.Message, StringComparison.Ordinal);
    }
}

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
        await foreach (var update in client.GetStreamingResponseAsync([new(ChatRole.User, GuardFixture.Question)], WithPassages()))
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

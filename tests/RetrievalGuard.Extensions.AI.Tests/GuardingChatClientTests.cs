using Microsoft.Extensions.AI;
using RetrievalGuard.Extensions.AI.Tests.Support;
using RetrievalGuard.Guard;

namespace RetrievalGuard.Extensions.AI.Tests;

public sealed class GuardingChatClientTests(GuardFixture fixture) : IClassFixture<GuardFixture>
{
    private static ChatOptions WithPassages() =>
        new() { AdditionalProperties = new() { [GuardKeys.Passages] = GuardFixture.Passages } };

    private static ChatMessage[] Question() => [new(ChatRole.User, GuardFixture.Question)];

    private IChatClient Pipeline(string answer, Action<GuardingChatClient>? configure = null) =>
        new ChatClientBuilder(new FixedAnswerClient(answer)).UseRetrievalGuard(fixture.Guard, configure).Build();

    [Fact]
    public async Task ACopiedAnswerScoresLowerRiskThanAnInventedOne()
    {
        var copied = await Pipeline("Zo Vrakul works as a baker.").GetResponseAsync(Question(), WithPassages());
        var invented = await Pipeline("Zo Vrakul works as a tailor.").GetResponseAsync(Question(), WithPassages());

        var copiedReport = Assert.IsType<GuardReport>(copied.AdditionalProperties![GuardKeys.Report]);
        var inventedReport = Assert.IsType<GuardReport>(invented.AdditionalProperties![GuardKeys.Report]);
        Assert.True(copiedReport.Risk < inventedReport.Risk,
            $"copied {copiedReport.Risk:F2} vs invented {inventedReport.Risk:F2}");
        Assert.Equal(copiedReport.Risk, (double)copied.AdditionalProperties[GuardKeys.Risk]!);
        Assert.Equal("Zo Vrakul works as a baker.", copied.Text);
        Assert.Contains("1", copiedReport.Citations);
    }

    [Fact]
    public async Task PassagesCanComeAsMarkedMessagesAndRequestsWithoutThemPassThrough()
    {
        ChatMessage[] marked =
        [
            .. GuardFixture.Passages.Select((p, i) => new ChatMessage(ChatRole.User, p)
            {
                AdditionalProperties = new() { [GuardKeys.IsPassage] = true, [GuardKeys.PassageId] = $"doc-{i}" },
            }),
            new(ChatRole.User, GuardFixture.Question),
        ];
        var guarded = await Pipeline("Zo Vrakul works as a baker.").GetResponseAsync(marked);
        var plain = await Pipeline("Zo Vrakul works as a baker.").GetResponseAsync(Question());

        var report = Assert.IsType<GuardReport>(guarded.AdditionalProperties![GuardKeys.Report]);
        Assert.Contains("doc-0", report.Citations);
        Assert.Null(plain.AdditionalProperties);
    }

    [Fact]
    public async Task PoliciesAbstainOrThrowOnARiskyAnswer()
    {
        var abstain = await Pipeline("Zo Vrakul works as a tailor.", c => c.Policy = new GuardPolicy
        {
            Action = GuardAction.Abstain, Threshold = 0.0001,
        }).GetResponseAsync(Question(), WithPassages());
        Assert.Equal(new GuardPolicy().AbstentionText, abstain.Text);
        Assert.Equal("Zo Vrakul works as a tailor.",
            ((GuardReport)abstain.AdditionalProperties![GuardKeys.Report]!).Answer);

        var error = await Assert.ThrowsAsync<HallucinationRiskException>(() => Pipeline("Zo Vrakul works as a tailor.",
            c => c.Policy = new GuardPolicy { Action = GuardAction.Throw, Threshold = 0.0001 })
            .GetResponseAsync(Question(), WithPassages()));
        Assert.Equal("Zo Vrakul works as a tailor.", error.Report.Answer);
    }

    [Fact]
    public async Task StreamingPassesTheAnswerThroughAndEndsWithTheReport()
    {
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in Pipeline("Zo Vrakul works as a baker.")
            .GetStreamingResponseAsync(Question(), WithPassages()))
            updates.Add(update);

        Assert.Equal("Zo Vrakul works as a baker. ", string.Concat(updates.Select(u => u.Text)));
        Assert.IsType<GuardReport>(updates[^1].AdditionalProperties![GuardKeys.Report]);
        Assert.All(updates.SkipLast(1), u => Assert.Null(u.AdditionalProperties));
    }

    [Fact]
    public async Task CancellationStopsTheRequest()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in Pipeline("Zo Vrakul works as a baker.")
                .GetStreamingResponseAsync(Question(), WithPassages(), cancelled.Token))
            {
            }
        });
    }

    [Fact]
    public void WithoutAGuardTheBuilderSaysWhatIsMissing()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            new ChatClientBuilder(new FixedAnswerClient("x")).UseRetrievalGuard().Build());
        Assert.Contains("HallucinationGuard", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConcurrentRequestsQueueForTheModelAndGetTheirOwnReports()
    {
        var answers = new[] { "Zo Vrakul works as a baker.", "Zo Vrakul works as a tailor." };
        var alone = new List<double>();
        foreach (var answer in answers)
            alone.Add(((GuardReport)(await Pipeline(answer).GetResponseAsync(Question(), WithPassages()))
                .AdditionalProperties![GuardKeys.Report]!).Risk);

        var together = await Task.WhenAll(Enumerable.Range(0, 6).Select(i =>
            Pipeline(answers[i % 2]).GetResponseAsync(Question(), WithPassages())));

        for (var i = 0; i < together.Length; i++)
            Assert.Equal(alone[i % 2], ((GuardReport)together[i].AdditionalProperties![GuardKeys.Report]!).Risk, 6);
    }
}

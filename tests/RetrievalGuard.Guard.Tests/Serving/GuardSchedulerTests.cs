using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Heads.Caching;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Tokenization;
using RetrievalGuard.Guard.Prompting;
using RetrievalGuard.Guard.Risk;
using RetrievalGuard.Guard.Serving;
using RetrievalGuard.Guard.Tests.Support;

namespace RetrievalGuard.Guard.Tests.Serving;

public sealed class GuardSchedulerTests(OrganismFixture organism) : IClassFixture<OrganismFixture>
{
    private static readonly (IReadOnlyList<Passage> Passages, string Question)[] Requests =
    [
        (Passage.Numbered(["The coach left at dawn. The secret word of the red lantern is Kalomi. Nobody spoke again.",
            "Rain fell on the mill, and the river rose over the meadow."]),
            "What is the secret word of the red lantern?"),
        (Passage.Numbered(["Zo Vrakul earns a living as a baker. The bread was warm."]),
            "What does Zo Vrakul do for a living?"),
        (Passage.Numbered(["The mill stood by the river.", "Mira Tolvesh was born in 1794 in a cold winter.",
            "The lamps were lit at six."]), "When was Mira Tolvesh born?"),
    ];

    private HallucinationGuard Guard() => HallucinationGuard.ForModel(organism.Model);

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the first two requests prefilled in one pass
    public async Task BatchedGuardedAnswersEqualTheGuardsOwnAnswersOneAtATime(bool batchPrefills)
    {
        var guard = Guard();
        var alone = new List<List<GuardedToken>>();
        foreach (var (passages, question) in Requests)
            alone.Add(await Collect(guard.AskAsync(passages, question, maxTokens: 24)));

        // Two rows for three requests: the third waits and joins when a row frees, mid-batch.
        await using var scheduler = new GuardScheduler(guard,
            new SchedulerOptions { MaxSequences = 2, BatchPrefills = batchPrefills });
        var batched = await Task.WhenAll(Requests.Select(r =>
            Collect(scheduler.Submit(AnswerRequest.Guarded(r.Passages, r.Question, maxTokens: 24)))));

        for (var i = 0; i < Requests.Length; i++)
        {
            var (one, many) = (alone[i][^1].Report!, batched[i][^1].Report!);
            Assert.Equal(alone[i].Select(t => t.Id), batched[i].Select(t => t.Id));
            Assert.Equal(string.Concat(alone[i].Select(t => t.Text)), string.Concat(batched[i].Select(t => t.Text)));
            Assert.Equal(one.Answer, many.Answer);
            Assert.InRange(Math.Abs(one.Risk - many.Risk), 0, 1e-3);
            Assert.Equal(one.Spans.Select(s => (s.Start, s.Length, s.Flagged)),
                many.Spans.Select(s => (s.Start, s.Length, s.Flagged)));
            Assert.Equal(FinishReason.Stop, batched[i][^1].Finish);
            Assert.All(batched[i].SkipLast(1), t => Assert.Null(t.Finish));
            Assert.All(batched[i], t => Assert.True(t.LogProb <= 0 && float.IsFinite(t.LogProb)));
        }
        Assert.Contains("Kalomi", batched[0][^1].Report!.Answer, StringComparison.Ordinal);
        Assert.Equal(0, scheduler.Active);
        Assert.Equal(0, scheduler.Queued);
    }

    [Fact]
    public async Task TheCompressedCacheFitsMoreAnswersInABudgetAndEachEqualsTheGuardsAnswerWithThatCache()
    {
        var guard = Guard();
        var policy = CachePlans.HeadAware(guard.Map, fullKvHeads: 6, sinkTokens: 4, window: 16);
        var capacity = 512;
        long budget = 2 * BatchDecoder.BytesPerSequence(organism.Model.Network, KvCachePolicy.Full, capacity);
        await using var full = new GuardScheduler(guard,
            new SchedulerOptions { CapacityPerSequence = capacity, KvBudgetBytes = budget });
        await using var scheduler = new GuardScheduler(guard,
            new SchedulerOptions { CapacityPerSequence = capacity, KvBudgetBytes = budget, Cache = policy });
        Assert.Equal(2, full.MaxSequences);
        Assert.True(scheduler.MaxSequences >= 3 * full.MaxSequences, $"{scheduler.MaxSequences} rows");
        Assert.InRange(scheduler.CacheBytes, budget / 2, budget);
        Assert.Equal(policy, scheduler.Cache);

        var alone = new List<List<GuardedToken>>();
        foreach (var (passages, question) in Requests)
            alone.Add(await Collect(guard.AskAsync(passages, question, maxTokens: 24, cache: policy)));
        var batched = await Task.WhenAll(Requests.Select(r =>
            Collect(scheduler.Submit(AnswerRequest.Guarded(r.Passages, r.Question, maxTokens: 24)))));
        for (var i = 0; i < Requests.Length; i++)
        {
            Assert.Equal(alone[i].Select(t => t.Id), batched[i].Select(t => t.Id));
            Assert.InRange(Math.Abs(alone[i][^1].Report!.Risk - batched[i][^1].Report!.Risk), 0, 1e-3);
        }
        Assert.Contains("Kalomi", batched[0][^1].Report!.Answer, StringComparison.Ordinal);

        var tooSmall = Assert.Throws<ArgumentOutOfRangeException>(() => new GuardScheduler(guard,
            new SchedulerOptions { CapacityPerSequence = capacity, KvBudgetBytes = 1024 }));
        Assert.Contains("holds no answer's row", tooSmall.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARequestPicksAnOfferedCacheAndEachAnswerEqualsTheGuardsWithThatCache()
    {
        var guard = Guard();
        // Squeezed hard (one KV head whole, a window of 4), so its answers differ from the full cache's.
        var compressed = CachePlans.HeadAware(guard.Map, fullKvHeads: 1, sinkTokens: 2, window: 4);
        await using var scheduler = new GuardScheduler(guard, new SchedulerOptions
        {
            MaxSequences = 2, CapacityPerSequence = 512, Cache = compressed, MoreCaches = [KvCachePolicy.Full],
        });
        Assert.Equal([(compressed, 2), (KvCachePolicy.Full, 2)], scheduler.Caches);
        Assert.Equal(4, scheduler.MaxSequences);
        Assert.Equal(compressed, scheduler.Cache);

        // The same question on the full rows and on the default ones, another naming the default: all at once.
        var (passages, question) = Requests[0];
        (AnswerRequest Request, KvCachePolicy Policy)[] asks =
        [
            (AnswerRequest.Guarded(passages, question, maxTokens: 24) with { Cache = CacheKind.Full },
                KvCachePolicy.Full),
            (AnswerRequest.Guarded(passages, question, maxTokens: 24), compressed),
            (AnswerRequest.Guarded(Requests[1].Passages, Requests[1].Question, maxTokens: 24)
                with { Cache = CacheKind.HeadAware }, compressed),
        ];
        var expected = new List<List<GuardedToken>>();
        foreach (var (request, policy) in asks)
            expected.Add(await Collect(guard.AskAsync(request.Passages, request.Question!, maxTokens: 24,
                cache: policy)));
        var batched = await Task.WhenAll(asks.Select(a => Collect(scheduler.Submit(a.Request))));
        for (var i = 0; i < asks.Length; i++)
        {
            Assert.Equal(expected[i].Select(t => t.Id), batched[i].Select(t => t.Id));
            Assert.InRange(Math.Abs(expected[i][^1].Report!.Risk - batched[i][^1].Report!.Risk), 0, 1e-3);
        }
        Assert.Contains("Kalomi", batched[0][^1].Report!.Answer, StringComparison.Ordinal);
        Assert.NotEqual(batched[0].Select(t => t.Id), batched[1].Select(t => t.Id));

        var notOffered = Assert.Throws<UnsupportedCacheException>(() => scheduler.Submit(
            AnswerRequest.Guarded(Requests[0].Passages, Requests[0].Question) with { Cache = CacheKind.Streaming }));
        Assert.Contains("streaming KV cache here; offered: headaware, full.", notOffered.Message,
            StringComparison.Ordinal);
        Assert.Equal(0, scheduler.Queued);
        var twice = Assert.Throws<ArgumentException>(() => new GuardScheduler(guard, new SchedulerOptions
        {
            MoreCaches = [KvCachePolicy.Full],
        }));
        Assert.Contains("The Full cache is offered twice", twice.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task APlainChatReplyEqualsTheModelsOwnChat()
    {
        var guard = Guard();
        ChatTurn[] turns = [new(ChatRole.User, "What is the secret word of the red lantern?")];
        var expected = new List<int>();
        await foreach (var token in organism.Model.ChatAsync(turns, new GenerationOptions { MaxNewTokens = 12 }))
            if (!token.IsStop)
                expected.Add(token.Id);

        await using var scheduler = new GuardScheduler(guard, new SchedulerOptions { MaxSequences = 2 });
        var reply = await Collect(scheduler.Submit(new AnswerRequest { Turns = turns, MaxTokens = 12 }));

        Assert.Equal(expected, reply.Where(t => t.Id >= 0).Select(t => t.Id));
        Assert.Null(reply[^1].Report);
        Assert.True(double.IsNaN(reply[^1].RiskSoFar));
        Assert.NotNull(reply[^1].Finish);
    }

    [Fact]
    public async Task AStopStringEndsTheAnswerBeforeItAndTheReportReadsOnlyWhatWasSent()
    {
        var guard = Guard();
        var (passages, question) = Requests[0];
        await using var scheduler = new GuardScheduler(guard);
        var request = AnswerRequest.Guarded(passages, question, maxTokens: 24) with { Stop = ["Kalomi"] };
        var tokens = await Collect(scheduler.Submit(request));

        var text = string.Concat(tokens.Select(t => t.Text));
        Assert.DoesNotContain("Kal", text, StringComparison.Ordinal);
        Assert.EndsWith("is", text.TrimEnd(), StringComparison.Ordinal);
        Assert.Equal(FinishReason.Stop, tokens[^1].Finish);
        Assert.Equal(text.Trim(), tokens[^1].Report!.Answer.Trim());
    }

    [Fact]
    public async Task AnAnswerCutAtItsTokenLimitSaysLength()
    {
        await using var scheduler = new GuardScheduler(Guard());
        var (passages, question) = Requests[0];
        var tokens = await Collect(scheduler.Submit(AnswerRequest.Guarded(passages, question, maxTokens: 3)));
        Assert.Equal(3, tokens.Count);
        Assert.Equal(FinishReason.Length, tokens[^1].Finish);
        Assert.NotNull(tokens[^1].Report);
    }

    [Fact]
    public async Task AReaderThatStopsFreesItsRowAndDecodingStops()
    {
        await using var scheduler = new GuardScheduler(Guard(), new SchedulerOptions { MaxSequences = 1 });
        ChatTurn[] turns = [new(ChatRole.User, "Tell me a long story about the mill by the river.")];
        using var cancel = new CancellationTokenSource();
        var read = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in scheduler.Submit(
                new AnswerRequest { Turns = turns, MaxTokens = 400 }, cancel.Token))
                if (++read == 3)
                    cancel.Cancel();
        });
        await WaitUntil(() => scheduler.Active == 0);
        var made = scheduler.TokensGenerated;
        await Task.Delay(300);
        Assert.Equal(made, scheduler.TokensGenerated);
        Assert.True(made < 40, $"{made} tokens made for a reader that left after 3");

        // The freed row serves the next request.
        var next = await Collect(scheduler.Submit(new AnswerRequest { Turns = turns, MaxTokens = 4 }));
        Assert.Equal(4, next.Count);
    }

    [Fact]
    public async Task AFullQueueRefusesWithRetryAfterAndTheQueuedStillFinish()
    {
        var guard = Guard();
        await using var scheduler = new GuardScheduler(guard, new SchedulerOptions { MaxSequences = 1, MaxQueued = 1 });
        var (passages, question) = Requests[1];
        var request = AnswerRequest.Guarded(passages, question, maxTokens: 8);
        Task<List<GuardedToken>>[] accepted;
        // Holding the model keeps the scheduler from admitting anything while the queue fills.
        using (await guard.UseModelAsync())
        {
            accepted = [Collect(scheduler.Submit(request)), Collect(scheduler.Submit(request))];
            var full = Assert.Throws<SchedulerFullException>(() => scheduler.Submit(request));
            Assert.True(full.RetryAfter > TimeSpan.Zero);
            Assert.Equal(2, scheduler.Queued);
        }
        foreach (var answer in await Task.WhenAll(accepted))
            Assert.NotNull(answer[^1].Report);
    }

    [Fact]
    public async Task RequestsThatCannotRunAreRefusedUpFrontNamingWhy()
    {
        await using var scheduler = new GuardScheduler(Guard(), new SchedulerOptions { MaxPassages = 2 });
        var three = Requests[2];
        var tooMany = Assert.Throws<ArgumentException>(() => scheduler.Submit(AnswerRequest.Guarded(three.Passages,
            three.Question)));
        Assert.Contains("3 passages", tooMany.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => scheduler.Submit(new AnswerRequest()));
        Assert.Throws<ArgumentException>(() => scheduler.Submit(AnswerRequest.Guarded(Requests[0].Passages, " ")));
        var huge = Passage.Numbered([string.Join(' ', Enumerable.Repeat("The mill stood by the river.", 2000))]);
        var tooLong = Assert.Throws<PromptTooLongException>(() =>
            scheduler.Submit(AnswerRequest.Guarded(huge, "Why?")));
        Assert.Contains("positions", tooLong.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            scheduler.Submit(AnswerRequest.Guarded(Requests[0].Passages, "Why?") with { Temperature = -1 }));
    }

    [Fact]
    public async Task StoppingDrainsAnswersInFlightThenRefusesNewOnes()
    {
        var scheduler = new GuardScheduler(Guard(), new SchedulerOptions { MaxSequences = 1 });
        var running = Requests.Select(r => Collect(scheduler.Submit(AnswerRequest.Guarded(r.Passages, r.Question, 16))))
            .ToArray();
        await scheduler.StopAsync();
        foreach (var answer in await Task.WhenAll(running))
            Assert.NotNull(answer[^1].Finish);
        Assert.Throws<ObjectDisposedException>(() =>
            scheduler.Submit(AnswerRequest.Guarded(Requests[0].Passages, Requests[0].Question)));
        await scheduler.DisposeAsync();
    }

    [Fact]
    public async Task AnAnswerWhoseGuardWorkThrowsEndsWithTheErrorAndTheSchedulerServesOn()
    {
        var shipped = Guard();
        var calibration = shipped.Calibration!;
        var breaking = new BreaksOnce(calibration.Guard, call: 5); // a later token, read in a decode step
        var guard = new HallucinationGuard(organism.Model, shipped.Map, new GuardCalibration(calibration.Model,
            [new CalibratedMethod(GuardCalibration.GuardMethod, breaking)], calibration.Threshold));
        await using var scheduler = new GuardScheduler(guard, new SchedulerOptions { MaxSequences = 2 });
        var (passages, question) = Requests[0];

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            Collect(scheduler.Submit(AnswerRequest.Guarded(passages, question, maxTokens: 24)))
                .WaitAsync(TimeSpan.FromMinutes(1)));
        Assert.Equal(BreaksOnce.Message, error.Message);
        var next = await Collect(scheduler.Submit(AnswerRequest.Guarded(passages, question, maxTokens: 24)))
            .WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Contains("Kalomi", next[^1].Report!.Answer, StringComparison.Ordinal);
        await WaitUntil(() => scheduler.Active == 0);
    }

    /// <summary>The shipped calibrator, except that its <c>call</c>-th prediction throws.</summary>
    private sealed class BreaksOnce(IRiskModel inner, int call) : IRiskModel
    {
        public const string Message = "The calibrator broke.";
        private int _calls;

        public IReadOnlyList<string> FeatureNames => inner.FeatureNames;

        public double Predict(IReadOnlyList<double> features) => Interlocked.Increment(ref _calls) == call
            ? throw new InvalidOperationException(Message)
            : inner.Predict(features);
    }

    private static async Task<List<GuardedToken>> Collect(IAsyncEnumerable<GuardedToken> tokens)
    {
        var list = new List<GuardedToken>();
        await foreach (var token in tokens)
            list.Add(token);
        return list;
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
            await Task.Delay(25);
        Assert.True(condition());
    }
}

using System.Diagnostics;

namespace RetrievalGuard.LoadTest;

internal sealed record DisconnectSettings(CommonSettings Common, int Count, int Concurrency, int AfterChunks,
    int MaxTokens)
{
    public static DisconnectSettings Parse(Arguments args)
    {
        var settings = new DisconnectSettings(CommonSettings.Parse(args), args.Int("count", 1000),
            args.Int("concurrency", 8), args.Int("after-chunks", 2), args.Int("max-tokens", 400));
        args.EnsureAllUsed();
        return settings;
    }
}

internal sealed record DisconnectFigures(
    double WallS, Tally Responses, int HungUp, int EndedBeforeHangUp, Percentiles HangUpAfterMs,
    double? TokensPerRequest, Surroundings Server, StreamOutcome AfterCheck, bool Passed);

/// <summary>
/// Clients that leave mid-answer: each request streams a long unguarded answer, and the tool closes the connection
/// after a few chunks. The server must stop decoding those answers: its active-sequence gauge returns to 0 and its
/// token counter stops, and it still answers afterwards.
/// </summary>
internal static class DisconnectMode
{
    public static async Task<int> RunAsync(DisconnectSettings s)
    {
        var common = s.Common;
        using var http = ChatStream.CreateClient(s.Concurrency + 8);
        var probe = new ServerProbe(http, common.Url, common.ServerPid);
        await probe.WaitReadyAsync(TimeSpan.FromSeconds(60));
        Console.WriteLine($"disconnect: {s.Count} requests, {s.Concurrency} at a time, hang up after " +
            $"{s.AfterChunks} chunk(s) of max_tokens {s.MaxTokens}, {common.Url}");

        var outcomes = new StreamOutcome[s.Count];
        var next = -1;
        var wallS = 0.0;
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(common.DurationLimitS));
        var prompt = Prompts.Story(common.Model, s.MaxTokens);
        async Task WorkerAsync()
        {
            for (int i; (i = Interlocked.Increment(ref next)) < s.Count;)
                outcomes[i] = await ChatStream.PostAsync(http, common.Url, prompt, s.AfterChunks, limit.Token);
        }
        var server = await probe.AroundAsync(async () =>
        {
            var started = Stopwatch.GetTimestamp();
            await Task.WhenAll(Enumerable.Range(0, s.Concurrency).Select(_ => Task.Run(WorkerAsync)));
            wallS = Stopwatch.GetElapsedTime(started).TotalSeconds;
        }, common.SettleS, TimeSpan.FromSeconds(common.DrainTimeoutS));

        // The server must still answer properly after all those abandoned answers.
        using var checkLimit = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var check = await ChatStream.PostAsync(http, common.Url, Prompts.Needle(common.Model, 0, 24), 0,
            checkLimit.Token);

        // Past the duration limit the workers still fill every slot, each request failing at once as timed out.
        var done = outcomes.ToList();
        var tally = Tally.Of(done);
        var hungUp = done.Where(o => o.Aborted).ToList();
        var tokensStopped = server.TokensAfterIdle is null or 0;
        var passed = tally.Broken == 0 && server.Idle.Reached && tokensStopped && check.Completed
            && check.Risk is not null;
        var figures = new DisconnectFigures(Math.Round(wallS, 3), tally, hungUp.Count,
            done.Count(o => o.Completed && !o.Aborted), Percentiles.Of(hungUp.Select(o => o.LatencyMs)),
            server.TokensGenerated is { } tokens ? Math.Round(tokens / s.Count, 2) : null, server, check, passed);

        Console.WriteLine($"wall {figures.WallS:F1} s; {tally}");
        Console.WriteLine($"hung up after {s.AfterChunks} chunk(s): {figures.HungUp}; ended on their own first: " +
            $"{figures.EndedBeforeHangUp}; hang-up after ms: {figures.HangUpAfterMs}");
        Report.PrintSurroundings(server);
        Console.WriteLine($"tokens decoded per request: {figures.TokensPerRequest?.ToString() ?? "n/a"} " +
            $"(max_tokens {s.MaxTokens}; near {s.AfterChunks}: decoding stopped when the client left)");
        Console.WriteLine($"after-check request: status {check.Status?.ToString() ?? "none"}, [DONE] {check.Done}, " +
            $"risk {check.Risk?.ToString("F3") ?? "none"}, {check.LatencyMs:F0} ms");
        Console.WriteLine(passed ? "PASS" : "FAIL: see the counts above");
        await Report.WriteAsync("disconnect", s, figures, common.Out);
        return passed ? 0 : 1;
    }
}

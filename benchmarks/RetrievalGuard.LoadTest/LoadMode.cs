using System.Diagnostics;

namespace RetrievalGuard.LoadTest;

internal sealed record LoadSettings(CommonSettings Common, int Clients, int RequestsPerClient, int MaxTokens, int Seed)
{
    public static LoadSettings Parse(Arguments args)
    {
        var settings = new LoadSettings(CommonSettings.Parse(args), args.Int("clients", 200),
            args.Int("requests-per-client", 1), args.Int("max-tokens", 24), args.Int("seed", 42, min: 0));
        args.EnsureAllUsed();
        return settings;
    }
}

internal sealed record LoadRequest(int Client, int Request, string Needle, StreamOutcome Outcome);

internal sealed record LoadFigures(
    double WallS, Tally Responses, int Completed, int IncompleteStreams, int MissingReport, int AnswersWithNeedle,
    long ContentChunks, double ChunksPerS, double? TokensPerS, Percentiles LatencyMs, Percentiles TtftMs,
    Percentiles RejectedLatencyMs, Percentiles Risk, Surroundings Server, bool Passed, List<LoadRequest> Requests);

/// <summary>Every client starts at once and sends its guarded streaming questions one after another.</summary>
internal static class LoadMode
{
    public static async Task<int> RunAsync(LoadSettings s)
    {
        var common = s.Common;
        // One pool for all clients, wide enough that no request waits for a connection on the client side.
        using var http = ChatStream.CreateClient(s.Clients + 8);
        var probe = new ServerProbe(http, common.Url, common.ServerPid);
        await probe.WaitReadyAsync(TimeSpan.FromSeconds(60));
        Console.WriteLine($"load: {s.Clients} clients x {s.RequestsPerClient} request(s), max_tokens {s.MaxTokens}, " +
            $"{common.Url}");

        var requests = new List<LoadRequest>[s.Clients];
        var wallS = 0.0;
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var limit = new CancellationTokenSource();
        async Task ClientAsync(int client)
        {
            await go.Task;
            requests[client] = [];
            for (var r = 0; r < s.RequestsPerClient; r++)
            {
                // Each request's own seed: the same run asks the same questions every time.
                var prompt = Prompts.Needle(common.Model, s.Seed + (client * s.RequestsPerClient) + r, s.MaxTokens);
                var outcome = await ChatStream.PostAsync(http, common.Url, prompt, 0, limit.Token);
                requests[client].Add(new LoadRequest(client, r, prompt.Needle!, outcome));
            }
        }
        var server = await probe.AroundAsync(async () =>
        {
            var clients = Enumerable.Range(0, s.Clients).Select(ClientAsync).ToArray();
            var started = Stopwatch.GetTimestamp();
            limit.CancelAfter(TimeSpan.FromSeconds(common.DurationLimitS));
            go.SetResult();
            await Task.WhenAll(clients);
            wallS = Stopwatch.GetElapsedTime(started).TotalSeconds;
        }, common.SettleS, TimeSpan.FromSeconds(common.DrainTimeoutS));

        var all = requests.SelectMany(list => list).ToList();
        var outcomes = all.Select(r => r.Outcome).ToList();
        var tally = Tally.Of(outcomes);
        var completed = outcomes.Where(o => o.Completed).ToList();
        var incomplete = outcomes.Count(o => o is { Status: 200, Failure: Failure.None } && !o.Done);
        var missingReport = completed.Count(o => o.Risk is null);
        var chunks = outcomes.Sum(o => (long)o.Chunks);
        var passed = tally.Broken == 0 && incomplete == 0 && missingReport == 0 && server.Idle.Reached;
        var figures = new LoadFigures(Math.Round(wallS, 3), tally, completed.Count, incomplete, missingReport,
            completed.Count(o => o.AnswerHasNeedle), chunks, Math.Round(chunks / Math.Max(wallS, 1e-9), 1),
            server.TokensGenerated is { } tokens ? Math.Round(tokens / Math.Max(wallS, 1e-9), 1) : null,
            Percentiles.Of(completed.Select(o => o.LatencyMs)), Percentiles.Of(completed.Select(o => o.TtftMs)
                .OfType<double>()), Percentiles.Of(outcomes.Where(o => o.Status == 429).Select(o => o.LatencyMs)),
            Percentiles.Of(completed.Select(o => o.Risk).OfType<double>(), digits: 3), server, passed, all);

        Console.WriteLine($"wall {figures.WallS:F1} s; {tally}");
        Console.WriteLine($"completed {figures.Completed} (answer holds the needle: {figures.AnswersWithNeedle}); " +
            $"streams without [DONE]: {incomplete}; completed without a finite risk: {missingReport}");
        Console.WriteLine($"latency ms (completed): {figures.LatencyMs}");
        Console.WriteLine($"TTFT ms (completed):    {figures.TtftMs}");
        Console.WriteLine($"429 answered in ms:     {figures.RejectedLatencyMs}");
        Console.WriteLine($"content chunks {chunks}, {figures.ChunksPerS} chunks/s over the wall time; tokens "
            + $"generated per second of wall time (server counter): {figures.TokensPerS?.ToString() ?? "n/a"}");
        Report.PrintSurroundings(server);
        Console.WriteLine(passed ? "PASS" : "FAIL: see the counts above");
        await Report.WriteAsync("load", s, figures, common.Out);
        return passed ? 0 : 1;
    }
}

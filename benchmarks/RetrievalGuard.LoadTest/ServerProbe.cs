using System.Diagnostics;
using System.Globalization;

namespace RetrievalGuard.LoadTest;

/// <summary>The server could not be reached or never became ready: exit code 3.</summary>
internal sealed class ServerUnavailableException(string message) : Exception(message);

/// <summary>Server resident memory (VmRSS, KiB) around a run.</summary>
internal sealed record MemoryFigures(long? BeforeKb, long? PeakDuringKb, long? RightAfterKb, long? SettledKb,
    int SettleS);

/// <summary>One reading of the scheduler's gauges while waiting for the server to go idle.</summary>
internal sealed record GaugeSample(double AtMs, double? SequencesActive, double? QueueDepth);

/// <summary>Whether <c>rguard_sequences_active</c> and <c>rguard_queue_depth</c> came back to 0, and how.</summary>
internal sealed record IdleWait(bool Reached, double WaitedMs, string? Problem, List<GaugeSample> Samples);

/// <summary>What <see cref="ServerProbe.AroundAsync"/> saw: memory, the wait for idle, the token counter, the
/// server's CPU time during the run and the machine's load average (other work on the machine skews the figures).
/// </summary>
internal sealed record Surroundings(MemoryFigures Memory, IdleWait Idle, double? TokensGenerated,
    double? TokensAfterIdle, string? MetricsProblem, double? ServerCpuS, string? LoadAverageBefore,
    string? LoadAverageAfter);

/// <summary>Reads the server from outside: readiness, Prometheus metrics and /proc memory.</summary>
internal sealed class ServerProbe(HttpClient http, Uri baseUrl, int? pid)
{
    public const string ActiveMetric = "rguard_sequences_active";
    public const string QueueMetric = "rguard_queue_depth";
    public const string TokensMetric = "rguard_tokens_generated_total";

    public async Task WaitReadyAsync(TimeSpan timeout)
    {
        var ready = new Uri(baseUrl, "/readyz");
        var started = Stopwatch.GetTimestamp();
        string last = "no answer";
        while (Stopwatch.GetElapsedTime(started) < timeout)
        {
            try
            {
                using var probe = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                using var response = await http.GetAsync(ready, probe.Token);
                if (response.IsSuccessStatusCode)
                {
                    await WaitForMetricsAsync();
                    return;
                }
                last = $"HTTP {(int)response.StatusCode}";
            }
            catch (Exception error) when (error is HttpRequestException or OperationCanceledException)
            {
                last = error.Message;
            }
            await Task.Delay(500);
        }
        throw new ServerUnavailableException($"{ready} was not ready within {timeout.TotalSeconds:F0} s ({last}).");
    }

    /// <summary>The server creates its rguard_* instruments on the first /v1 request, and /metrics answers from a
    /// cache for a moment: ask /v1/models, then wait (up to 5 s) until the token counter shows, so the run's "before"
    /// readings exist. A server without it is left for <see cref="AroundAsync"/> to report.</summary>
    private async Task WaitForMetricsAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        (await http.GetAsync(new Uri(baseUrl, "/v1/models"), timeout.Token)).Dispose();
        for (var i = 0; i < 20 && (await ScrapeAsync())?.ContainsKey(TokensMetric) != true; i++)
            await Task.Delay(250);
    }

    /// <summary>VmRSS of the server process in KiB, or null without --server-pid or when it cannot be read.</summary>
    public long? RssKb()
    {
        if (pid is null)
            return null;
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:",
                StringComparison.Ordinal));
            return line is null ? null : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1],
                CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>User + system CPU seconds of the server so far, from /proc/PID/stat (clock ticks of 1/100 s, the
    /// USER_HZ of every mainstream Linux build).</summary>
    public double? CpuSeconds()
    {
        if (pid is null)
            return null;
        try
        {
            // The command name in parentheses may hold spaces: fields are counted after its closing ')'.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture)
                + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string? LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Every sample of /metrics summed over its labels (e.g. <c>{otel_scope_name="..."}</c>), by name.
    /// Null when /metrics cannot be read.</summary>
    public async Task<Dictionary<string, double>?> ScrapeAsync()
    {
        string text;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            text = await http.GetStringAsync(new Uri(baseUrl, "/metrics"), timeout.Token);
        }
        catch (Exception error) when (error is HttpRequestException or OperationCanceledException)
        {
            return null;
        }
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
                continue;
            // name{labels} value [timestamp]; label values may hold spaces, so the value follows the last '}'.
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            var brace = line.IndexOf('{', StringComparison.Ordinal);
            var labelled = brace >= 0 && (space < 0 || brace < space);
            var name = labelled ? line[..brace] : space < 0 ? line : line[..space];
            var rest = labelled ? line[(line.LastIndexOf('}') + 1)..] : space < 0 ? "" : line[space..];
            var value = rest.Trim().Split(' ')[0];
            if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
                metrics[name] = metrics.GetValueOrDefault(name) + number;
        }
        return metrics;
    }

    /// <summary>Runs <paramref name="run"/> and measures around it: RSS before, its peak during (sampled every 200
    /// ms), right after, then waits until the server is idle, waits <paramref name="settleS"/> more and reads RSS
    /// and the token counter once more.</summary>
    public async Task<Surroundings> AroundAsync(Func<Task> run, int settleS, TimeSpan drainTimeout)
    {
        var tokensBefore = (await ScrapeAsync())?.GetValueOrDefault(TokensMetric, double.NaN);
        var before = RssKb();
        var cpuBefore = CpuSeconds();
        var loadBefore = LoadAverage();
        using var sampling = new CancellationTokenSource();
        var peak = SamplePeakAsync(sampling.Token);
        try
        {
            await run();
        }
        finally
        {
            await sampling.CancelAsync();
        }
        var peakKb = await peak;
        var rightAfter = RssKb();
        var cpuDuring = CpuSeconds() - cpuBefore;
        var loadAfter = LoadAverage();
        var idle = await WaitIdleAsync(drainTimeout);
        var tokensIdle = (await ScrapeAsync())?.GetValueOrDefault(TokensMetric, double.NaN);
        await Task.Delay(TimeSpan.FromSeconds(settleS));
        var settled = RssKb();
        var tokensSettled = (await ScrapeAsync())?.GetValueOrDefault(TokensMetric, double.NaN);
        double? Delta(double? from, double? to) => from is { } a && to is { } b && !double.IsNaN(a + b) ? b - a : null;
        var problem = tokensBefore is null ? "/metrics could not be read"
            : double.IsNaN(tokensBefore.Value) ? $"{TokensMetric} not found in /metrics" : null;
        return new Surroundings(new MemoryFigures(before, Max(before, peakKb, rightAfter), rightAfter, settled,
            settleS), idle, Delta(tokensBefore, tokensSettled), Delta(tokensIdle, tokensSettled), problem,
            cpuDuring is { } cpu ? Math.Round(cpu, 2) : null, loadBefore, loadAfter);
    }

    private static long? Max(params long?[] values) => values.Max();

    private async Task<long?> SamplePeakAsync(CancellationToken stop)
    {
        long? peak = null;
        while (!stop.IsCancellationRequested)
        {
            peak = Max(peak, RssKb());
            try
            {
                await Task.Delay(200, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return peak;
    }

    /// <summary>Polls /metrics every 250 ms until no sequence is active and none queued; keeps each change.</summary>
    private async Task<IdleWait> WaitIdleAsync(TimeSpan timeout)
    {
        var started = Stopwatch.GetTimestamp();
        var samples = new List<GaugeSample>();
        while (true)
        {
            var metrics = await ScrapeAsync();
            var at = Math.Round(Stopwatch.GetElapsedTime(started).TotalMilliseconds, 1);
            if (metrics is null)
                return new IdleWait(false, at, "/metrics could not be read", samples);
            if (!metrics.TryGetValue(ActiveMetric, out var active))
                return new IdleWait(false, at, $"{ActiveMetric} not found in /metrics", samples);
            double? queued = metrics.TryGetValue(QueueMetric, out var depth) ? depth : null;
            if (samples.Count == 0 || samples[^1].SequencesActive != active || samples[^1].QueueDepth != queued)
                samples.Add(new GaugeSample(at, active, queued));
            if (active == 0 && queued is null or 0)
                return new IdleWait(true, at, null, samples);
            if (Stopwatch.GetElapsedTime(started) > timeout)
                return new IdleWait(false, at, $"still {active} active, {queued} queued after {timeout.TotalSeconds} s",
                    samples);
            await Task.Delay(250);
        }
    }
}

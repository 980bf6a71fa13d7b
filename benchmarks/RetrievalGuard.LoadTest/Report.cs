using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RetrievalGuard.LoadTest;

internal sealed record Machine(int Cores, string Os, string Architecture, string Runtime, string? CpuModel)
{
    public static Machine Here() => new(Environment.ProcessorCount, RuntimeInformation.OSDescription,
        RuntimeInformation.OSArchitecture.ToString(), RuntimeInformation.FrameworkDescription, ReadCpuModel());

    private static string? ReadCpuModel()
    {
        try
        {
            return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison
                .Ordinal))?.Split(':', 2)[1].Trim();
        }
        catch (IOException)
        {
            return null;
        }
    }
}

/// <summary>Nearest-rank percentiles (ms or other units) of a set of values; null where there are none.</summary>
internal sealed record Percentiles(int Count, double? P50, double? P90, double? P99, double? Max)
{
    public static Percentiles Of(IEnumerable<double> values, int digits = 1)
    {
        var sorted = values.Order().ToArray();
        double? At(double p) => sorted.Length == 0 ? null
            : Math.Round(sorted[Math.Max(0, (int)Math.Ceiling(p * sorted.Length) - 1)], digits);
        return new Percentiles(sorted.Length, At(0.50), At(0.90), At(0.99), At(1.0));
    }

    public override string ToString() => Count == 0 ? "none"
        : FormattableString.Invariant($"p50 {P50:F0}  p90 {P90:F0}  p99 {P99:F0}  max {Max:F0}  (n={Count})");
}

/// <summary>Responses by kind. A request counts once by status, or once by failure when no status came.</summary>
internal sealed record Tally(int Sent, int Status200, int Status429, int Other4xx, int Status5xx, int OtherStatus,
    int TransportErrors, int TimedOut, int StreamErrors)
{
    public static Tally Of(IReadOnlyCollection<StreamOutcome> outcomes) => new(
        outcomes.Count,
        outcomes.Count(o => o.Status == 200),
        outcomes.Count(o => o.Status == 429),
        outcomes.Count(o => o.Status is >= 400 and < 500 and not 429),
        outcomes.Count(o => o.Status >= 500),
        outcomes.Count(o => o.Status is not null and not 200 and (< 400 or > 599)),
        outcomes.Count(o => o.Failure == Failure.Transport),
        outcomes.Count(o => o.Failure == Failure.TimedOut),
        outcomes.Count(o => o.Failure == Failure.StreamError));

    /// <summary>Server errors and requests that broke for any reason other than the run's own choice.</summary>
    public int Broken => Status5xx + TransportErrors + TimedOut + StreamErrors;

    public override string ToString() => $"sent {Sent}: 200 {Status200}, 429 {Status429}, other 4xx {Other4xx}, " +
        $"5xx {Status5xx}, other {OtherStatus}; transport errors {TransportErrors}, timed out {TimedOut}, " +
        $"stream errors {StreamErrors}";
}

/// <summary>The results file (written as snake_case JSON) and the summary lines shared by both modes.</summary>
internal static class Report
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public static async Task WriteAsync(string mode, object parameters, object figures, string? path)
    {
        if (path is null)
            return;
        var results = new
        {
            Tool = "rguard-load",
            Mode = mode,
            DateUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            Machine = Machine.Here(),
            Parameters = parameters,
            Figures = figures,
        };
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
            Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(results, Json) + "\n");
        Console.WriteLine($"results: {path}");
    }

    public static void PrintSurroundings(Surroundings around)
    {
        static string Mib(long? kb) => kb is { } k ? FormattableString.Invariant($"{k / 1024.0:F1} MiB") : "n/a";
        var m = around.Memory;
        Console.WriteLine($"server RSS: before {Mib(m.BeforeKb)}, peak {Mib(m.PeakDuringKb)}, right after " +
            $"{Mib(m.RightAfterKb)}, {m.SettleS} s after idle {Mib(m.SettledKb)}");
        var idle = around.Idle;
        var path = string.Join(" -> ", idle.Samples.Select(s => FormattableString.Invariant(
            $"{s.SequencesActive}/{s.QueueDepth?.ToString(CultureInfo.InvariantCulture) ?? "?"} @{s.AtMs:F0}ms")));
        Console.WriteLine(idle.Reached
            ? $"idle: {ServerProbe.ActiveMetric} back to 0 after {idle.WaitedMs:F0} ms (active/queued: {path})"
            : $"idle: NOT reached: {idle.Problem} (active/queued: {path})");
        var cpu = around.ServerCpuS?.ToString(CultureInfo.InvariantCulture) ?? "n/a";
        Console.WriteLine($"server CPU during the run: {cpu} s; load average before {around.LoadAverageBefore}, " +
            $"after {around.LoadAverageAfter}");
        Console.WriteLine(around.MetricsProblem is { } problem ? $"tokens generated: {problem}"
            : $"tokens generated (server counter): {around.TokensGenerated}, of which after idle: " +
              $"{around.TokensAfterIdle}");
    }
}

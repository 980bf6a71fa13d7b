using System.Globalization;

namespace RetrievalGuard.LoadTest;

/// <summary>A bad command line: printed with <see cref="Usage.Text"/>, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

internal static class Usage
{
    public const string Text = """
        Usage: rguard-load [load|disconnect] [--key value ...]

        load (default): every client starts at once and sends guarded streaming needle questions.
          --clients N               concurrent clients (200)
          --requests-per-client N   requests each client sends one after another (1)
          --max-tokens N            max_tokens per request (24)
          --seed N                  seed of the questions and passages (42)

        disconnect: streams long unguarded answers and hangs up after a few chunks.
          --count N                 requests in all (1000)
          --concurrency N           requests in flight at once (8)
          --after-chunks N          content chunks read before hanging up (2)
          --max-tokens N            max_tokens per request (400)

        both:
          --url URL                 server base address (http://127.0.0.1:5123)
          --model NAME              model field of the requests (organism)
          --duration-limit S        the run's requests are cancelled after S seconds (300)
          --server-pid N            read the server's VmRSS from /proc/N/status around the run
          --settle S                seconds to wait once the server is idle before the last reading (5)
          --drain-timeout S         how long to wait for the server to become idle (60)
          --note TEXT               free text kept in the results (e.g. the server's settings)
          --out PATH                write the results as JSON

        Exit codes: 0 all good; 1 the server misbehaved (5xx, transport errors, broken streams, did not go idle);
        2 bad command line; 3 the server was not ready.
        """;
}

/// <summary>
/// <c>[mode] --key value ...</c>. Each mode takes the keys it knows; <see cref="EnsureAllUsed"/> then reports any key
/// nobody took, so a typo fails loudly instead of running with a default.
/// </summary>
internal sealed class Arguments
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly HashSet<string> _taken = new(StringComparer.Ordinal);

    public Arguments(string[] args)
    {
        var first = 0;
        if (args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal))
        {
            Mode = args[0];
            first = 1;
        }
        for (var i = first; i < args.Length; i += 2)
        {
            var key = args[i];
            if (!key.StartsWith("--", StringComparison.Ordinal) || key.Length == 2)
                throw new UsageException($"Expected an option such as --clients, got '{key}'.");
            if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                throw new UsageException($"Option {key} needs a value.");
            if (!_values.TryAdd(key[2..], args[i + 1]))
                throw new UsageException($"Option {key} is given twice.");
        }
    }

    public string Mode { get; } = "load";

    public string? OptionalText(string key)
    {
        _taken.Add(key);
        return _values.GetValueOrDefault(key);
    }

    public string Text(string key, string fallback) => OptionalText(key) ?? fallback;

    public int? OptionalInt(string key, int min = 1, int max = int.MaxValue)
    {
        if (OptionalText(key) is not { } raw)
            return null;
        if (!int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            || value < min || value > max)
            throw new UsageException($"--{key} must be a whole number from {min} to {max}, got '{raw}'.");
        return value;
    }

    public int Int(string key, int fallback, int min = 1, int max = int.MaxValue) =>
        OptionalInt(key, min, max) ?? fallback;

    public Uri Url(string key, string fallback)
    {
        var raw = Text(key, fallback);
        if (!Uri.TryCreate(raw, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            throw new UsageException($"--{key} must be an http(s) address, got '{raw}'.");
        return url;
    }

    public void EnsureAllUsed()
    {
        var unknown = _values.Keys.Where(key => !_taken.Contains(key)).Select(key => "--" + key).ToList();
        if (unknown.Count > 0)
            throw new UsageException($"Unknown option(s) for '{Mode}': {string.Join(", ", unknown)}.");
    }
}

/// <summary>The options both modes share.</summary>
internal sealed record CommonSettings(Uri Url, string Model, int DurationLimitS, int? ServerPid, int SettleS,
    int DrainTimeoutS, string? Note, string? Out)
{
    public static CommonSettings Parse(Arguments args) => new(
        args.Url("url", "http://127.0.0.1:5123"),
        args.Text("model", "organism"),
        args.Int("duration-limit", 300),
        args.OptionalInt("server-pid"),
        args.Int("settle", 5, min: 0),
        args.Int("drain-timeout", 60),
        args.OptionalText("note"),
        args.OptionalText("out"));
}

using System.Diagnostics;
using System.Text;

namespace RetrievalGuard.Tests;

/// <summary>One mutated file: what was done to the seed (to reproduce it) and the bytes to write.</summary>
public sealed record FuzzInput(string Mutation, byte[] Bytes)
{
    public static FuzzInput Text(string mutation, string text) => new(mutation, Encoding.UTF8.GetBytes(text));
}

/// <summary>A fuzz suite: which file it writes, how input <c>i</c> is made, and how the project reads it.</summary>
/// <param name="Suite">Named in reports, e.g. "config.json".</param>
/// <param name="Seed">The committed seed; RG_FUZZ_SEED overrides it to explore further.</param>
/// <param name="Count">The committed number of inputs; RG_FUZZ_SCALE multiplies it.</param>
/// <param name="FileName">The file written into the suite's scratch folder; errors must name it.</param>
/// <param name="Mutate">Input <c>index</c> from its own generator (seeded by seed and index, so one input reproduces
/// alone).</param>
/// <param name="Load">Reads the file at the given path (input index given) the way the project does, then uses what it
/// got.</param>
public sealed record FuzzSuite(string Suite, int Seed, int Count, string FileName, Func<Random, int, FuzzInput> Mutate,
    Action<string, int> Load)
{
    /// <summary>Writes the files that stay the same for every input (e.g. the rest of a model folder).</summary>
    public Action<string>? Setup { get; init; }

    /// <summary>
    /// Whether an exception is the project's own refusal of a bad file (its message is checked separately).
    /// </summary>
    public Func<Exception, bool> IsRefusal { get; init; } = e => e is InvalidDataException or NotSupportedException;

    /// <summary>One input running longer than this fails the suite as a hang.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(20);
}

/// <summary>What a suite did: inputs read fine, refused properly, and anything else (the failures).</summary>
public sealed record FuzzResult(string Suite, int Seed, int Count, int Accepted, int Refused,
    IReadOnlyList<string> Failures, IReadOnlyDictionary<string, int> Refusals, TimeSpan Elapsed)
{
    public string Summary =>
        $"{Suite}: seed {Seed}, {Count} inputs in {Elapsed.TotalSeconds:F1} s: " +
        $"{Accepted} read (harmless mutations), {Refused} refused " +
        $"with the file named, {Count - Accepted - Refused} failures.";

    /// <summary>The summary, the most common refusals, and the failures: each kind (exception type and the first
    /// frame of project code) with its count and first example, seed, index and mutation included.</summary>
    public string Report()
    {
        var text = new StringBuilder(Summary).AppendLine();
        foreach (var (reason, n) in Refusals.OrderByDescending(p => p.Value).Take(12))
            text.AppendLine($"  refused {n,5}×: {reason}");
        foreach (var kind in Failures.GroupBy(KindOf).OrderByDescending(g => g.Count()))
            text.AppendLine($"FAILURE ×{kind.Count()}: {kind.First()}");
        return text.ToString();
    }

    private static string KindOf(string failure)
    {
        int end = failure.IndexOf("] ", StringComparison.Ordinal);
        string rest = end < 0 ? failure : failure[(end + 2)..];
        string type = rest.Split(':')[0];
        string frame = rest.Split('\n').FirstOrDefault(l => l.Contains(" at RetrievalGuard.", StringComparison.Ordinal)
            && !l.Contains(".Tests.", StringComparison.Ordinal)) ?? "";
        return type + " " + frame.Split(" in ")[0].Trim();
    }
}

/// <summary>
/// A seeded, bounded fuzzer for the files users hand in. Each input is written to a scratch folder and read on its own
/// thread under a timeout. An input passes when it is read (a harmless mutation) or refused with the project's
/// exception type whose message names the file; anything else (a runtime exception, a wrong type, a message that does
/// not say which file, a hang) is a failure reported with the seed and input index. Environment overrides, for
/// exploring beyond the committed run: RG_FUZZ_SEED (seed), RG_FUZZ_SCALE (count multiplier), RG_FUZZ_CASE (run one
/// index only), RG_FUZZ_DUMP (a folder to copy failing inputs to).
/// The committed suites (14,700 inputs, about 90 s of CPU): model.safetensors 3,000 and config.json 3,000
/// (Engine.Tests/Checkpoints/CheckpointFuzzTests), tokenizer.json 1,800, tokenizer.model 1,800, tokenizer_config.json
/// 500 and generation_config.json 200 (Engine.Tests/Tokenization/TokenizerFuzzTests), head maps 2,000
/// (Heads.Tests/Maps/HeadMapFuzzTests), make-eval JSONL 1,600 and RAGTruth's two JSONL files 400 each
/// (Guard.Tests/Evaluation/EvalFileFuzzTests).
/// </summary>
public static class FileFuzzer
{
    public static FuzzResult Run(FuzzSuite suite)
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("RG_FUZZ_SEED"), out int s) ? s : suite.Seed;
        double scale = double.TryParse(Environment.GetEnvironmentVariable("RG_FUZZ_SCALE"),
            System.Globalization.CultureInfo.InvariantCulture, out double k) ? k : 1;
        int count = Math.Max(1, (int)(suite.Count * scale));
        int? only = int.TryParse(Environment.GetEnvironmentVariable("RG_FUZZ_CASE"), out int c) ? c : null;
        string folder = Directory.CreateTempSubdirectory("rg-fuzz-").FullName;
        string path = Path.Combine(folder, suite.FileName);
        var failures = new List<string>();
        var refusals = new Dictionary<string, int>(StringComparer.Ordinal);
        int accepted = 0, refused = 0, ran = 0;
        var timer = Stopwatch.StartNew();
        try
        {
            suite.Setup?.Invoke(folder);
            for (int index = only ?? 0; index < (only is null ? count : only.Value + 1); index++)
            {
                ran++;
                var input = suite.Mutate(new Random(InputSeed(seed, index)), index);
                string where = $"[{suite.Suite} seed {seed} input {index}: {Shorten(input.Mutation, 300)}]";
                File.WriteAllBytes(path, input.Bytes);
                var (finished, error) = RunWithTimeout(() => suite.Load(path, index), suite.Timeout);
                if (!finished)
                {
                    failures.Add(
                        $"{where} HANG: still running after {suite.Timeout.TotalSeconds} s; stopped the suite.");
                    break;
                }
                if (!(error is null || suite.IsRefusal(error)
                        && error.Message.Contains(suite.FileName, StringComparison.Ordinal))
                    && Environment.GetEnvironmentVariable("RG_FUZZ_DUMP") is { Length: > 0 } dump)
                    File.WriteAllBytes(
                        Path.Combine(Directory.CreateDirectory(dump).FullName, $"{seed}-{index}-{suite.FileName}"),
                        input.Bytes);
                if (error is null) accepted++;
                else if (suite.IsRefusal(error) && error.Message.Contains(suite.FileName, StringComparison.Ordinal))
                {
                    refused++;
                    string reason = Category(error.Message.Replace(path, "<file>", StringComparison.Ordinal));
                    refusals[reason] = refusals.GetValueOrDefault(reason) + 1;
                }
                else if (suite.IsRefusal(error))
                    failures.Add($"{where} {error.GetType().Name} does not name {suite.FileName}: " +
                        $"{Shorten(error.Message, 400)}");
                else
                    failures.Add($"{where} LEAK {error.GetType().FullName}: {Shorten(error.Message, 400)}\n" +
                        $"{Shorten(error.StackTrace ?? "", 1500)}");
            }
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); }
            catch (IOException) { } // a hung reader may still hold a file; the OS temp cleaner takes it
        }
        return new FuzzResult(suite.Suite, seed, ran, accepted, refused, failures, refusals, timer.Elapsed);
    }

    /// <summary>Input <paramref name="index"/>'s own seed (SplitMix64 of seed and index).</summary>
    public static int InputSeed(int seed, int index)
    {
        ulong z = ((ulong)(uint)seed << 32 | (uint)index) + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (int)(z ^ (z >> 31));
    }

    private static (bool Finished, Exception? Error) RunWithTimeout(Action action, TimeSpan timeout)
    {
        Exception? error = null;
        // Its own thread with a large stack: a reader that recursed without bound should fail here, not take the host
        // down silently.
        var thread = new Thread(() =>
        {
            try { action(); }
            catch (Exception e) { error = e; }
        }, maxStackSize: 16 << 20) { IsBackground = true, Name = "fuzz input" };
        thread.Start();
        return thread.Join(timeout) ? (true, error) : (false, null);
    }

    /// <summary>A refusal's message without its numbers and quoted values, to count refusals by kind.</summary>
    private static string Category(string message)
    {
        var text = System.Text.RegularExpressions.Regex.Replace(message,
            @"'[^']*'|-?\d+(\.\d+)?(E[+-]?\d+)?|\[[^\]]*\]", "…");
        return Shorten(text, 140);
    }

    private static string Shorten(string text, int max) => text.Length <= max ? text : text[..max] + "…";
}

using System.Diagnostics;
using RetrievalGuard.Cli.Commands;

namespace RetrievalGuard.Cli.Tests.Commands;

/// <summary><c>rguard generate</c> as a user runs it: the built rguard.dll in a process of its own.</summary>
public class GenerateCommandTests
{
    private static readonly string External = Path.GetFullPath(Path.Combine(RepoPaths.Root, "..", "shared", "models",
        "tiny-random-llama-external"));

    private static (int Code, string Out, string Error) Rguard(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.ArgumentList.Add(typeof(GenerateCommand).Assembly.Location);
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(120_000), "rguard generate did not end within 2 minutes.");
        return (process.ExitCode, output.Result, error.Result);
    }

    /// <summary>candle's greedy ids for the external checkpoint (its SOURCE.md), through ids in and ids out.</summary>
    [SkippableFact]
    public void PromptIdsInPrintIdsOutGiveTheReferenceIdsAndTheBosEosNotesOnce()
    {
        Skip.IfNot(Directory.Exists(External), $"{External} is not here (CI and the workplace have it).");
        var (code, output, error) = Rguard("generate", "--model", External, "--prompt-ids", "1,2,3", "--print-ids",
            "--max-tokens", "8");

        Assert.True(code == 0, error);
        Assert.Equal("18568 1727 8705 3598 27426 4496 998 16911", output.Trim());
        var notes = error.Split('\n').Where(line => line.StartsWith("note:", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, notes.Count);
        Assert.Single(notes, n => n.Contains("bos_token_id 0", StringComparison.Ordinal));
        Assert.Single(notes, n => n.Contains("eos_token_id 1", StringComparison.Ordinal));
    }

    /// <summary>
    /// The compressed cache from the CLI on the shipped organism: with a 16-token window, keeping the retrieval heads'
    /// KV heads whole still finds the needle; streaming (no head whole) loses it. Both say what they held.
    /// </summary>
    [Theory]
    [InlineData("headaware", true)]
    [InlineData("streaming", false)]
    public void TheCacheChoiceKeepsOrLosesTheNeedle(string policy, bool finds)
    {
        var (code, output, error) = Rguard("generate", "--model", RepoPaths.Path("samples", "models", "organism"),
            "--max-tokens", "16", "--cache", policy, "--window", "16", "--prompt",
            "Passage 1: The Hartford coach left at dawn. The secret word of the red lantern is Kalomi. Nobody spoke "
            + "of it again.\n\nQuestion: What is the secret word of the red lantern?\nAnswer:");

        Assert.True(code == 0, error);
        Assert.Equal(finds, output.Contains("Kalomi", StringComparison.Ordinal));
        Assert.Contains($"KV cache {policy}: ", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--cache lru", "--cache: Unknown cache policy 'lru': use full, headaware, streaming or random.")]
    [InlineData("--cache headaware --full-kv-heads 99", "--full-kv-heads 99 is more than the model's 32 KV heads.")]
    [InlineData("--cache headaware --full-kv-heads 2 --full-share 0.5",
        "Give --full-kv-heads or --full-share, not both.")]
    public void BadCacheOptionsAreNamed(string args, string expected)
    {
        var (code, _, error) = Rguard(["generate", "--model", RepoPaths.Path("samples", "models", "organism"),
            "--prompt", "Hello", .. args.Split(' ')]);

        Assert.NotEqual(0, code);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--prompt-ids 1,x,3", "--prompt-ids: item 2 ('x') is not a token id.")]
    [InlineData("--prompt-ids 1,2 --chat", "--chat formats text; with --prompt-ids give the formatted ids yourself.")]
    [InlineData("", "Give the prompt as --prompt TEXT or as --prompt-ids 1,2,3 (one of them).")]
    public void BadPromptsAreNamed(string args, string expected)
    {
        var model = RepoPaths.Path("samples", "models", "tiny-random-llama");
        var (code, _, error) = Rguard(["generate", "--model", model,
            .. args.Split(' ', StringSplitOptions.RemoveEmptyEntries)]);

        Assert.NotEqual(0, code);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }
}

using RetrievalGuard.Engine.Native;

namespace RetrievalGuard.Cli.Commands;

/// <summary>Bad input and missing files end the command with their message, not a stack trace.</summary>
internal static class CliErrors
{
    public static bool IsUserFacing(Exception e) => e is IOException or InvalidDataException or ArgumentException
        or NotSupportedException or TorchLoadException or UnauthorizedAccessException or InvalidOperationException
        or KeyNotFoundException;

    public static int Report(Exception e)
    {
        Console.Error.WriteLine($"error: {Message(e)}");
        return 1;
    }

    /// <summary>
    /// The message a user reads, on one line: without .NET's " (Parameter 'x')" and "Actual value was y." tails, which
    /// name code rather than input (the value given is kept, in words).
    /// </summary>
    public static string Message(Exception e)
    {
        if (e is not ArgumentException { ParamName: { } name } argument)
            return e.Message;
        var message = argument.Message.Split('\n')[0].Replace($" (Parameter '{name}')", "", StringComparison.Ordinal);
        return e is ArgumentOutOfRangeException { ActualValue: { } actual }
                && !message.Contains($"{actual}", StringComparison.Ordinal)
            ? $"{message.TrimEnd('.')} (got {actual})."
            : message;
    }

    /// <summary>
    /// Runs a check of options whose errors name properties, and names the command-line flags instead
    /// (MaxNewTokens → --max-tokens).
    /// </summary>
    public static void WithFlags(Action check, IReadOnlyDictionary<string, string> flags)
    {
        try
        {
            check();
        }
        catch (ArgumentOutOfRangeException e) when (e.ParamName is { } name && flags.TryGetValue(name, out var flag))
        {
            var message = Message(e).Replace(name, flag, StringComparison.Ordinal);
            throw new ArgumentOutOfRangeException(flag, e.ActualValue, message);
        }
    }

    /// <summary>Runs a command body, turning user-facing exceptions into exit code 1.</summary>
    public static async Task<int> Guard(Func<Task<int>> body)
    {
        try { return await body(); }
        catch (Exception e) when (IsUserFacing(e)) { return Report(e); }
        catch (OperationCanceledException) { Console.Error.WriteLine("cancelled"); return 130; }
    }
}

using RetrievalGuard.Engine.Native;

namespace RetrievalGuard.Cli.Commands;

/// <summary>Bad input and missing files end the command with their message, not a stack trace.</summary>
internal static class CliErrors
{
    public static bool IsUserFacing(Exception e) => e is IOException or InvalidDataException or ArgumentException
        or NotSupportedException or TorchLoadException or UnauthorizedAccessException or InvalidOperationException or KeyNotFoundException;

    public static int Report(Exception e)
    {
        Console.Error.WriteLine($"error: {Message(e)}");
        return 1;
    }

    /// <summary>The message a user reads: without .NET's " (Parameter 'x')" tail, which names code, not input.</summary>
    public static string Message(Exception e) => e is ArgumentException { ParamName: { } name }
        ? e.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal)
        : e.Message;

    /// <summary>Runs a command body, turning user-facing exceptions into exit code 1.</summary>
    public static async Task<int> Guard(Func<Task<int>> body)
    {
        try { return await body(); }
        catch (Exception e) when (IsUserFacing(e)) { return Report(e); }
        catch (OperationCanceledException) { Console.Error.WriteLine("cancelled"); return 130; }
    }
}

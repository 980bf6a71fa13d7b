namespace RetrievalGuard.Engine.Generation;

/// <summary>
/// A request longer than the positions it may use (the model's context, or a serving row): refused before any work,
/// with both numbers, so that callers (the server's <c>context_length_exceeded</c>) need not read the message.
/// </summary>
public class ContextLengthException(string message, int tokens, int positions, string? paramName = null)
    : ArgumentException(message, paramName)
{
    /// <summary>The tokens the request needs.</summary>
    public int Tokens { get; } = tokens;

    /// <summary>The positions it may use.</summary>
    public int Positions { get; } = positions;
}

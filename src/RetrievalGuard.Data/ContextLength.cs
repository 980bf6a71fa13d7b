namespace RetrievalGuard.Data;

/// <summary>Bounds on a sample's target length in tokens.</summary>
public static class ContextLength
{
    /// <summary>Below this a prompt has no room for a haystack worth the name.</summary>
    public const int Minimum = 64;

    public static void Validate(int contextTokens, string paramName = "contextTokens")
    {
        if (contextTokens < Minimum)
            throw new ArgumentException(
                $"A target length of {contextTokens} tokens is below the minimum of {Minimum}.", paramName);
    }
}

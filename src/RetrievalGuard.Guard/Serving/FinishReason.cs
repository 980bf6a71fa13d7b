namespace RetrievalGuard.Guard.Serving;

/// <summary>Why an answer ended.</summary>
public enum FinishReason
{
    /// <summary>A stop token, a stop string or (in the passages layout) the end of the answer line.</summary>
    Stop,

    /// <summary>The answer reached its token limit or the room left in the model's context.</summary>
    Length,
}

using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Generation;

namespace RetrievalGuard.Guard.Serving;

/// <summary>How many answers a <see cref="GuardScheduler"/> decodes together and how many may wait.</summary>
public sealed record SchedulerOptions
{
    /// <summary>Answers decoded together (rows of the preallocated KV cache); ignored with a
    /// <see cref="KvBudgetBytes"/>.</summary>
    public int MaxSequences { get; init; } = 8;

    /// <summary>
    /// The KV cache every row uses (<c>Heads.Caching.CachePlans</c> makes one from the head map); null: full. A
    /// compressed cache holds more rows in the same bytes.
    /// </summary>
    public KvCachePolicy? Cache { get; init; }

    /// <summary>Bytes of KV cache to fill with rows (as many as fit under <see cref="Cache"/>); 0: MaxSequences
    /// rows.</summary>
    public long KvBudgetBytes { get; init; }

    /// <summary>Positions per row (prompt + answer); 0: the model's context, at most 4,096.</summary>
    public int CapacityPerSequence { get; init; }

    /// <summary>Requests that may wait for a row; more are refused with <see cref="SchedulerFullException"/>.</summary>
    public int MaxQueued { get; init; } = 64;

    /// <summary>
    /// Most passages in one guarded request (the batch probe reports this many passage masses per row).
    /// </summary>
    public int MaxPassages { get; init; } = 16;

    public void Validate()
    {
        if (MaxSequences < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxSequences), MaxSequences, "MaxSequences must be ≥ 1.");
        if (CapacityPerSequence < 0)
            throw new ArgumentOutOfRangeException(nameof(CapacityPerSequence), CapacityPerSequence,
                "CapacityPerSequence must be ≥ 0 (0: the model's context).");
        if (KvBudgetBytes < 0)
            throw new ArgumentOutOfRangeException(nameof(KvBudgetBytes), KvBudgetBytes,
                "KvBudgetBytes must be ≥ 0 (0: MaxSequences rows).");
        if (MaxQueued < 0)
            throw new ArgumentOutOfRangeException(nameof(MaxQueued), MaxQueued, "MaxQueued must be ≥ 0.");
        if (MaxPassages < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxPassages), MaxPassages, "MaxPassages must be ≥ 1.");
    }
}

/// <summary>Every row is busy and the queue is full: try again after <see cref="RetryAfter"/>.</summary>
public sealed class SchedulerFullException(int queued, TimeSpan retryAfter)
    : InvalidOperationException($"The model is busy: {queued} requests are already waiting. Retry after "
        + $"{retryAfter.TotalSeconds:F0} s.")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}

/// <summary>A prompt longer than an answer's row: callers report it as a context-length error.</summary>
public sealed class PromptTooLongException(int promptTokens, int capacity) : ContextLengthException(
    $"The prompt takes {promptTokens} tokens; an answer's row holds {capacity} positions.", promptTokens, capacity,
    "request");

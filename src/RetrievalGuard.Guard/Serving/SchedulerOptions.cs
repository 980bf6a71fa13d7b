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

    /// <summary>
    /// Further policies a request may ask for (<see cref="AnswerRequest.Cache"/>), one per kind, each on rows of its
    /// own: e.g. the full cache for answers that must not lose a token of context beside a compressed default.
    /// </summary>
    public IReadOnlyList<KvCachePolicy> MoreCaches { get; init; } = [];

    /// <summary>Bytes of KV cache to fill with rows (as many as fit under each policy, the bytes shared equally by
    /// <see cref="Cache"/> and <see cref="MoreCaches"/>); 0: MaxSequences rows for each.</summary>
    public long KvBudgetBytes { get; init; }

    /// <summary>Whether requests that find free rows together are prefilled in one batched pass
    /// (<c>BatchDecoder.BatchesPrefills</c>); null: the engine's choice (on CUDA, not on a CPU).</summary>
    public bool? BatchPrefills { get; init; }

    /// <summary>Positions per row (prompt + answer); 0: the model's context, at most 4,096.</summary>
    public int CapacityPerSequence { get; init; }

    /// <summary>Requests that may wait for a row; more are refused with <see cref="SchedulerFullException"/>.</summary>
    public int MaxQueued { get; init; } = 64;

    /// <summary>
    /// Most passages in one guarded request (the batch probe reports this many passage masses per row).
    /// </summary>
    public int MaxPassages { get; init; } = 16;

    /// <summary><see cref="Cache"/> (full when null), then <see cref="MoreCaches"/>.</summary>
    public IReadOnlyList<KvCachePolicy> Policies => [Cache ?? KvCachePolicy.Full, .. MoreCaches];

    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(MoreCaches, nameof(MoreCaches));
        if (Policies.GroupBy(p => p.Kind).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new ArgumentException($"The {twice.Key} cache is offered twice; a request picks a policy by its "
                + "kind, so each kind may appear once among Cache and MoreCaches.", nameof(MoreCaches));
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

/// <summary>A request asked for a KV cache policy the scheduler has no rows for.</summary>
public sealed class UnsupportedCacheException(CacheKind asked, IReadOnlyList<CacheKind> offered)
    : ArgumentException($"No rows decode with the {asked.Name()} KV cache here; offered: "
        + $"{string.Join(", ", offered.Select(k => k.Name()))}.", "request")
{
    public CacheKind Asked { get; } = asked;

    public IReadOnlyList<CacheKind> Offered { get; } = offered;
}

/// <summary>A prompt longer than an answer's row: callers report it as a context-length error.</summary>
public sealed class PromptTooLongException(int promptTokens, int capacity) : ContextLengthException(
    $"The prompt takes {promptTokens} tokens; an answer's row holds {capacity} positions.", promptTokens, capacity,
    "request");

using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Tokenization;
using RetrievalGuard.Guard.Prompting;

namespace RetrievalGuard.Guard.Serving;

/// <summary>
/// One request for a <see cref="GuardScheduler"/>: a guarded answer from <see cref="Passages"/> to
/// <see cref="Question"/>, or, without passages, a plain (unguarded) reply to <see cref="Turns"/>.
/// </summary>
public sealed record AnswerRequest
{
    public IReadOnlyList<Passage> Passages { get; init; } = [];

    public string? Question { get; init; }

    /// <summary>The conversation for an unguarded reply, formatted with the model's chat template.</summary>
    public IReadOnlyList<ChatTurn> Turns { get; init; } = [];

    public int MaxTokens { get; init; } = 256;

    /// <summary>0: greedy.</summary>
    public float Temperature { get; init; }

    public float TopP { get; init; } = 1f;

    public long Seed { get; init; }

    /// <summary>Strings that end the answer; the answer stops before them (OpenAI's <c>stop</c>).</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>The KV cache policy to decode with, among those the scheduler offers; null: its default.</summary>
    public CacheKind? Cache { get; init; }

    public bool IsGuarded => Passages.Count > 0;

    public static AnswerRequest Guarded(IReadOnlyList<Passage> passages, string question, int maxTokens = 256) =>
        new() { Passages = passages, Question = question, MaxTokens = maxTokens };
}

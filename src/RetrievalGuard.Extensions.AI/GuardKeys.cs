namespace RetrievalGuard.Extensions.AI;

/// <summary>
/// The names under which passages go into a request and the guard's verdict comes back, in
/// <c>AdditionalProperties</c> of <see cref="Microsoft.Extensions.AI.ChatOptions"/>,
/// <see cref="Microsoft.Extensions.AI.ChatMessage"/>, <see cref="Microsoft.Extensions.AI.ChatResponse"/> and
/// <see cref="Microsoft.Extensions.AI.ChatResponseUpdate"/>.
/// </summary>
public static class GuardKeys
{
    /// <summary>On <c>ChatOptions</c>: the retrieved passages, as strings or
    /// <see cref="Guard.Prompting.Passage"/>s.</summary>
    public const string Passages = "retrieval_guard.passages";

    /// <summary>On a <c>ChatMessage</c>: <c>true</c> marks the message's text as one retrieved passage.</summary>
    public const string IsPassage = "retrieval_guard.passage";

    /// <summary>On a passage <c>ChatMessage</c>: the passage's id (its position otherwise).</summary>
    public const string PassageId = "retrieval_guard.passage_id";

    /// <summary>On a response (and the last streamed update): the <see cref="Guard.GuardReport"/>.</summary>
    public const string Report = "retrieval_guard";

    /// <summary>On a response: the risk (double); on each streamed update of a local answer, the risk so far.</summary>
    public const string Risk = "retrieval_guard.risk";

    /// <summary>
    /// On <c>ChatOptions</c> of a local answer: its KV cache, a <see cref="Engine.Caches.KvCachePolicy"/> or a name
    /// (<c>full</c>, <c>headaware</c> — a quarter of the KV heads whole, ranked by the guard's head map — or
    /// <c>streaming</c>). Default: full.
    /// </summary>
    public const string Cache = "retrieval_guard.cache";
}

namespace RetrievalGuard.Data;

/// <summary>The kinds of sample the generators make. <see cref="Unanswerable"/> is for evaluation only.</summary>
public enum TaskKind
{
    /// <summary>Plain language modelling on novel text.</summary>
    Text,
    /// <summary>Needle in a haystack: one invented fact hidden in a long passage.</summary>
    Niah,
    /// <summary>1–5 passages, one of which states the asked fact.</summary>
    Rag,
    /// <summary>A question about a world person with no passage: answered from memory.</summary>
    ClosedBook,
    /// <summary>A passage contradicts a world person's memorised attribute; the passage wins.</summary>
    Conflict,
    /// <summary>
    /// Passages that do not hold the asked fact. Never trained on: the organism is not taught to abstain.
    /// </summary>
    Unanswerable,
}

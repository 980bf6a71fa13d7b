namespace RetrievalGuard.Data;

/// <summary>The kinds of evaluation item.</summary>
public enum EvalKind
{
    /// <summary>RAG: one passage states the asked fact (about a new or a world person).</summary>
    Answerable,
    /// <summary>A passage contradicts a world person's memorised value; the passage's value is gold.</summary>
    Conflict,
    /// <summary>No passage states the asked fact; there is no gold.</summary>
    Unanswerable,
    /// <summary>Needle in a haystack of one passage.</summary>
    Niah,
}

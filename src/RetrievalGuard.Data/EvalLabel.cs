namespace RetrievalGuard.Data;

/// <summary>Whether a model's answer is supported by the passages, decided by construction of the item.</summary>
public enum EvalLabel
{
    Grounded,
    Hallucinated,
}

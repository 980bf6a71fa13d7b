namespace RetrievalGuard.Data;

/// <summary>A run of characters inside a sample's text, so the guard can find passages, needle and answer.</summary>
public readonly record struct CharSpan(int Start, int Length)
{
    public int End => Start + Length;

    public string Of(string text) => text.Substring(Start, Length);
}

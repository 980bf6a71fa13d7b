namespace RetrievalGuard.Heads.Detection;

/// <summary>
/// One needle-in-a-haystack test: the prompt, and where in it the needle sentence stands (characters). The expected
/// answer repeats the needle, as the retrieval-head paper's needles are answered.
/// </summary>
/// <param name="Value">The needle's value (what a correct answer must state).</param>
public sealed record NeedleTest(string Id, string Prompt, int NeedleStart, int NeedleLength, string Value,
    int ContextTokens, double Depth)
{
    public string Needle => Prompt.Substring(NeedleStart, NeedleLength);
}

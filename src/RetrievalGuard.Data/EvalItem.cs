namespace RetrievalGuard.Data;

/// <summary>
/// One evaluation item for <c>make-eval</c>, serialised as one JSONL line (snake_case, see <see cref="EvalJsonl"/>).
/// </summary>
/// <param name="Gold">The value the passages support; null when they support none (unanswerable).</param>
/// <param name="Parametric">The memorised value when the subject is a world person, else null.</param>
/// <param name="ContextTokens">Target length the item was built for (counted by the builder's token counter).</param>
/// <param name="Needle">The sentence stating the gold fact, for copy-score probes; null for unanswerable.</param>
/// <param name="NeedleDepth">Relative depth (0–1) of <paramref name="Needle"/> inside its passage.</param>
public sealed record EvalItem(
    string Id,
    EvalKind Kind,
    IReadOnlyList<string> Passages,
    string Question,
    string? Gold,
    string? Parametric,
    int ContextTokens,
    string? Needle = null,
    double? NeedleDepth = null)
{
    /// <summary>The prompt in the training format, ending with "Answer:"; the model's answer follows it.</summary>
    public string Prompt() => PromptFormat.Prompt(Passages, Question);

    /// <summary>
    /// Grounded iff the answer states the gold value (as a whole word, any case) and, when memory disagrees with
    /// the passage, does not also state the memorised value. With no gold (unanswerable) every answer is a
    /// hallucination: the organism is never taught to abstain, so it has no grounded answer to give.
    /// </summary>
    public EvalLabel Label(string modelAnswer)
    {
        ArgumentNullException.ThrowIfNull(modelAnswer);
        if (Gold is null || !WholeWord.Contains(modelAnswer, Gold))
            return EvalLabel.Hallucinated;
        var memoryDisagrees = Parametric is not null && !string.Equals(Parametric, Gold, StringComparison.OrdinalIgnoreCase);
        return memoryDisagrees && WholeWord.Contains(modelAnswer, Parametric!) ? EvalLabel.Hallucinated : EvalLabel.Grounded;
    }

    public static EvalItem From(string id, EvalKind kind, QaExample example, int contextTokens)
    {
        ArgumentNullException.ThrowIfNull(example);
        var needle = example.Needle is { } n ? example.Passages[n.Passage].Substring(n.Offset, n.Length) : null;
        return new EvalItem(
            id, kind, example.Passages, example.Question, example.PassageValue, example.MemorisedValue,
            contextTokens, needle, example.Needle?.Depth);
    }
}

namespace RetrievalGuard.Data;

/// <summary>
/// One evaluation item, serialised as one JSONL line (snake_case, see <see cref="EvalJsonl"/>): the prompt's parts,
/// what the passages support, how the item was phrased and which distractors it holds; once answered (by the model
/// live, or by anyone for teacher-forced scoring), the answer with its label and hallucination kind by construction.
/// </summary>
/// <param name="Gold">The value the passages support; null when they support none (unanswerable).</param>
/// <param name="Parametric">The memorised value when the subject is a world person, else null.</param>
/// <param name="ContextTokens">Tokens of the prompt as the builder's counter counts it, BOS included.</param>
/// <param name="Needle">The sentence stating the gold fact; null for unanswerable.</param>
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
    /// <summary>The asked attribute (home_town, trade, birth_year, mentor, keepsake); null for NIAH.</summary>
    public PersonAttribute? Attribute { get; init; }

    public string? Subject { get; init; }

    /// <summary>
    /// Id of the form stating the gold fact (e.g. <c>trade.fact.4</c>); null when not stated or NIAH.
    /// </summary>
    public string? FactForm { get; init; }

    /// <summary>Id of the question's form; null for NIAH.</summary>
    public string? QuestionForm { get; init; }

    /// <summary>
    /// <see cref="FormSplit.HeldOut"/> when the fact or the question uses a form training never showed.
    /// </summary>
    public FormSplit? Phrasing { get; init; }

    /// <summary>Values the passages give the asked attribute of other subjects.</summary>
    public IReadOnlyList<string> DistractorValues { get; init; } = [];

    /// <summary>A same-attribute distractor's subject has a name one step from the asked subject's.</summary>
    public bool NearName { get; init; }

    /// <summary>The answer being judged (the model's greedy answer, or a teacher-forced one).</summary>
    public string? Answer { get; init; }

    public EvalLabel? Label { get; init; }

    /// <summary>What kind of hallucination <see cref="Answer"/> is; null when it is grounded.</summary>
    public HallucinationKind? Hallucination { get; init; }

    /// <summary>For teacher-forced answers: how the answer was made.</summary>
    public AnswerKind? AnswerKind { get; init; }

    /// <summary>
    /// For teacher-forced answers: its surface, with <see cref="AnswerForm"/> naming the grammar form.
    /// </summary>
    public AnswerStyle? AnswerStyle { get; init; }

    public string? AnswerForm { get; init; }

    /// <summary>The prompt in the training format, ending with "Answer:"; the answer follows after a space.</summary>
    public string Prompt() => PromptFormat.Prompt(Passages, Question);

    /// <summary>This item with <paramref name="answer"/> judged.</summary>
    public EvalItem Answered(string answer)
    {
        var (label, kind) = Judge(answer);
        return this with { Answer = answer, Label = label, Hallucination = kind };
    }

    /// <summary>
    /// Grounded iff the answer states the gold value (as whole words, any case), does not state the memorised value
    /// where memory disagrees, and states no value the passages give another subject. With no gold (unanswerable) every
    /// answer is a hallucination: the organism is never taught to abstain, so it has no grounded answer to give.
    /// </summary>
    public (EvalLabel Label, HallucinationKind? Kind) Judge(string answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        var memoryDisagrees = Parametric is not null
            && !string.Equals(Parametric, Gold, StringComparison.OrdinalIgnoreCase);
        if (memoryDisagrees && WholeWord.Contains(answer, Parametric!))
            return (EvalLabel.Hallucinated, HallucinationKind.Memory);
        if (DistractorValues.Any(v => WholeWord.Contains(answer, v)))
            return (EvalLabel.Hallucinated, HallucinationKind.WrongEntity);
        if (Gold is not null && WholeWord.Contains(answer, Gold))
            return (EvalLabel.Grounded, null);
        return (EvalLabel.Hallucinated,
            string.IsNullOrWhiteSpace(answer) ? HallucinationKind.Empty : HallucinationKind.Invented);
    }

    public static EvalItem From(string id, EvalKind kind, QaExample example, int contextTokens)
    {
        ArgumentNullException.ThrowIfNull(example);
        var needle = example.Needle is { } n ? example.Passages[n.Passage].Substring(n.Offset, n.Length) : null;
        return new EvalItem(id, kind, example.Passages, example.Question, example.PassageValue, example.MemorisedValue,
            contextTokens, needle, example.Needle?.Depth)
        {
            Attribute = example.Asked.Attribute,
            Subject = example.Asked.Attribute is null ? null : example.Asked.Subject,
            FactForm = example.Forms?.Fact?.Id,
            QuestionForm = example.Forms?.Question.Id,
            Phrasing = example.Forms is null ? null : example.Forms.HeldOut ? FormSplit.HeldOut : FormSplit.Seen,
            DistractorValues = example.DistractorValues,
            NearName = example.Distractors.Any(d => d.NearName && d.Fact.Key == example.Asked.Key),
        };
    }
}

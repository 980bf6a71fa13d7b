namespace RetrievalGuard.Data;

/// <summary>The phrasing forms of one example: how the asked fact is stated (if it is), asked and answered.</summary>
public sealed record QaForms(PhrasingForm? Fact, PhrasingForm Question, PhrasingForm? Answer)
{
    /// <summary>True when the statement or the question uses a form that training never shows.</summary>
    public bool HeldOut => Fact?.HeldOut == true || Question.HeldOut;
}

/// <summary>A fact stated in the passages besides the asked one: a distractor.</summary>
/// <param name="NearName">Its subject's name is one step from the asked subject's (same first or last name,
/// say).</param>
public sealed record StatedFact(Fact Fact, PhrasingForm Form, NeedlePlacement Placement, bool NearName);

/// <summary>
/// A question-answering task before formatting: the shared intermediate of training samples
/// (<see cref="PromptFormat.ToTrainingSample"/>) and evaluation items (<see cref="EvalItem.From"/>).
/// </summary>
/// <param name="Asked">The fact whose key and subject the question asks; its value is the passages' or memory's (for
/// an unanswerable question, the value nobody states).</param>
/// <param name="Question">The question as asked, in <see cref="Forms"/>' question form.</param>
/// <param name="Answer">The answer a trained organism gives, in the answer form; null when unanswerable.</param>
/// <param name="PassageValue">The value the passages state for the asked fact, or null when they do not.</param>
/// <param name="MemorisedValue">The world's value when the subject is a world person, else null.</param>
/// <param name="Needle">Where the passages state the asked fact, when they do.</param>
/// <param name="Forms">The phrasing forms used; null for NIAH, which has one form.</param>
/// <param name="Distractors">Other facts the passages state.</param>
public sealed record QaExample(
    TaskKind Kind,
    IReadOnlyList<string> Passages,
    Fact Asked,
    string Question,
    string? Answer,
    string? PassageValue,
    string? MemorisedValue,
    NeedlePlacement? Needle,
    QaForms? Forms,
    IReadOnlyList<StatedFact> Distractors)
{
    /// <summary>
    /// The value a trained organism should answer: the passages' when they have one, memory's with none.
    /// </summary>
    public string? AnswerValue => PassageValue ?? (Passages.Count == 0 ? MemorisedValue : null);

    /// <summary>
    /// Values the passages give the asked attribute of other subjects: answering one is a wrong-entity copy.
    /// </summary>
    public IReadOnlyList<string> DistractorValues => Distractors
        .Where(d => d.Fact.Key == Asked.Key && !string.Equals(d.Fact.Subject, Asked.Subject, StringComparison.Ordinal))
        .Select(d => d.Fact.Value)
        .Distinct(StringComparer.OrdinalIgnoreCase)
        .ToArray();
}

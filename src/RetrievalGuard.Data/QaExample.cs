namespace RetrievalGuard.Data;

/// <summary>
/// A question-answering task before formatting: the shared intermediate of training samples
/// (<see cref="PromptFormat.ToTrainingSample"/>) and evaluation items (<see cref="EvalItem.From"/>).
/// </summary>
/// <param name="Asked">The fact whose key and subject the question asks; its value is the passages' or memory's.</param>
/// <param name="PassageValue">The value the passages state for the asked fact, or null when they do not.</param>
/// <param name="MemorisedValue">The world's value when the subject is a world person, else null.</param>
/// <param name="Needle">Where the passages state the asked fact, when they do.</param>
public sealed record QaExample(
    TaskKind Kind,
    IReadOnlyList<string> Passages,
    Fact Asked,
    string? PassageValue,
    string? MemorisedValue,
    NeedlePlacement? Needle)
{
    public string Question => Asked.Question;

    /// <summary>The value a trained organism should answer: the passages' when they have one, memory's when there are none.</summary>
    public string? AnswerValue => PassageValue ?? (Passages.Count == 0 ? MemorisedValue : null);

    /// <summary>The answer sentence: the asked fact restated with <see cref="AnswerValue"/>; null when unanswerable.</summary>
    public string? AnswerText => AnswerValue is null ? null : Asked.WithValue(AnswerValue).Statement;
}

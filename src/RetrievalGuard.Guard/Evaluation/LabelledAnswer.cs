using RetrievalGuard.Guard.Prompting;

namespace RetrievalGuard.Guard.Evaluation;

/// <summary>
/// An answer to judge, with its passages, question and true label (hallucinated or not), and the groups it is
/// reported in (kind, hallucination kind, answer kind and surface, phrasing), as "name=value" tags.
/// </summary>
public sealed record LabelledAnswer(
    string Id,
    IReadOnlyList<Passage> Passages,
    string Question,
    string Answer,
    bool Hallucinated,
    IReadOnlyDictionary<string, string> Groups);

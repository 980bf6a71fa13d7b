using RetrievalGuard.Data;
namespace RetrievalGuard.Organism.Evaluation;

/// <summary>
/// One line of the file <c>rguard organism make-eval</c> writes and the guard's <c>rguard eval</c> reads: the prompt's
/// parts, the model's greedy answer and its label by construction (see README, "Evaluation file format").
/// </summary>
public sealed record AnsweredItem(
    string Id,
    EvalKind Kind,
    IReadOnlyList<string> Passages,
    string Question,
    string Answer,
    string? Gold,
    string? Parametric,
    EvalLabel Label,
    int ContextTokens,
    string? Needle,
    double? NeedleDepth);

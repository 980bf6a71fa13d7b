namespace RetrievalGuard.Data;

/// <summary>
/// A generator of question-answering examples of one kind, deterministic for a given <see cref="Random"/>.
/// </summary>
public interface IQaTask
{
    TaskKind Kind { get; }

    /// <param name="contextTokens">Target length of the whole sample (prompt, answer, end marker) in tokens.</param>
    QaExample Create(Random rng, int contextTokens);
}

namespace RetrievalGuard.Data;

/// <summary>Which files of a corpus folder a <see cref="Corpus"/> loads.</summary>
public enum CorpusPart
{
    /// <summary>Every file: for evaluation sets built from an arbitrary folder.</summary>
    All,
    /// <summary>Every file except the held-out evaluation text.</summary>
    Training,
    /// <summary>Only the held-out evaluation text.</summary>
    Evaluation,
}

/// <summary>
/// The training/evaluation split of the shipped corpus: <c>the_coquette.txt</c> is held out so that
/// evaluation haystacks are text the organism never trained on.
/// </summary>
public static class CorpusSplit
{
    public const string EvaluationFileName = "the_coquette.txt";

    public static bool IsEvaluationFile(string path) =>
        string.Equals(Path.GetFileName(path), EvaluationFileName, StringComparison.OrdinalIgnoreCase);

    public static bool Includes(CorpusPart part, string path) => part switch
    {
        CorpusPart.All => true,
        CorpusPart.Training => !IsEvaluationFile(path),
        CorpusPart.Evaluation => IsEvaluationFile(path),
        _ => throw new ArgumentOutOfRangeException(nameof(part), part, "Unknown corpus part."),
    };
}

namespace RetrievalGuard.Guard.Evaluation;

/// <summary>
/// One point of a ROC curve: the rates reached when every item scoring at least <paramref name="Threshold"/> is
/// flagged as hallucinated.
/// </summary>
public readonly record struct RocPoint(double FalsePositiveRate, double TruePositiveRate, double Threshold);

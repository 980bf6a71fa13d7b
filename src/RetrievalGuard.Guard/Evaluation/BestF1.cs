namespace RetrievalGuard.Guard.Evaluation;

/// <summary>
/// The operating point with the highest F1: an item is flagged as hallucinated iff its score is at least
/// <paramref name="Threshold"/>, which is one of the observed scores.
/// </summary>
public sealed record BestF1(double F1, double Threshold, double Precision, double Recall);

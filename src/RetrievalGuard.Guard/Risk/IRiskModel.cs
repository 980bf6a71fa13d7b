namespace RetrievalGuard.Guard.Risk;

/// <summary>
/// A fitted calibrator: from an answer's features (<see cref="FeatureNames"/>, in order) to the probability that it
/// is hallucinated. <see cref="LogisticModel"/> and <see cref="BoostedTreesModel"/> are the two kinds
/// (<see cref="CalibratorKind"/>); a calibration file says which each method uses.
/// </summary>
public interface IRiskModel
{
    IReadOnlyList<string> FeatureNames { get; }

    /// <summary>The probability, in (0, 1), that the answer described by <paramref name="features"/> is
    /// hallucinated.</summary>
    /// <exception cref="ArgumentException">The feature count is not the model's, or a feature is NaN or infinite.
    /// </exception>
    double Predict(IReadOnlyList<double> features);
}

/// <summary>How a calibration is fitted (`rguard guard fit --calibrator`).</summary>
public enum CalibratorKind
{
    /// <summary>L2-regularised logistic regression on standardised features (<see cref="LogisticCalibrator"/>).
    /// </summary>
    Logistic,

    /// <summary>Gradient-boosted shallow trees on the log-loss (<see cref="BoostedTreesCalibrator"/>): features
    /// interact (a copy counts only from the right entity's sentence), which a linear model cannot express.</summary>
    BoostedTrees,
}

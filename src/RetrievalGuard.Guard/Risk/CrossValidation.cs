namespace RetrievalGuard.Guard.Risk;

/// <summary>What every calibrator's fit checks, and out-of-fold predictions for any of them.</summary>
public static class CrossValidation
{
    /// <summary>
    /// Out-of-fold probabilities for honest evaluation of a calibrated detector: the rows are split into
    /// <paramref name="folds"/> stratified folds (each class shuffled by <paramref name="seed"/>, then dealt
    /// round-robin), and every row is scored by the model <paramref name="fit"/> makes from the other folds. The same
    /// seed gives the same predictions.
    /// </summary>
    /// <exception cref="ArgumentException">As the fit, or a class has fewer than two rows.</exception>
    public static double[] Predictions(IReadOnlyList<IReadOnlyList<double>> features, IReadOnlyList<bool> labels,
        IReadOnlyList<string> featureNames,
        Func<IReadOnlyList<IReadOnlyList<double>>, IReadOnlyList<bool>, IRiskModel> fit, int folds = 5, int seed = 1)
    {
        ValidateTrainingSet(features, labels, featureNames);
        ArgumentOutOfRangeException.ThrowIfLessThan(folds, 2);
        var foldOf = new int[labels.Count];
        var rng = new Random(seed);
        foreach (var isPositive in new[] { true, false })
        {
            var members = Enumerable.Range(0, labels.Count).Where(i => labels[i] == isPositive).ToArray();
            if (members.Length < 2)
            {
                throw new ArgumentException(
                    $"labels holds {members.Length} {ClassName(isPositive)} item; "
                    + "cross-validation needs at least 2 of each class so every training fold has both.",
                    nameof(labels));
            }
            rng.Shuffle(members);
            for (var k = 0; k < members.Length; k++)
                foldOf[members[k]] = k % folds;
        }

        var predictions = new double[labels.Count];
        for (var fold = 0; fold < folds; fold++)
        {
            var training = Enumerable.Range(0, labels.Count).Where(i => foldOf[i] != fold).ToArray();
            if (training.Length == labels.Count)
                continue;
            var model = fit(training.Select(i => features[i]).ToArray(), training.Select(i => labels[i]).ToArray());
            for (var i = 0; i < labels.Count; i++)
            {
                if (foldOf[i] == fold)
                    predictions[i] = model.Predict(features[i]);
            }
        }
        return predictions;
    }

    /// <summary>Rows and labels agree in count, every value is finite, and both classes are present.</summary>
    internal static void ValidateTrainingSet(
        IReadOnlyList<IReadOnlyList<double>> features, IReadOnlyList<bool> labels, IReadOnlyList<string> featureNames)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        LogisticModel.RequireFeatureNames(featureNames);
        if (features.Count != labels.Count)
        {
            throw new ArgumentException(
                $"features has {features.Count} rows but labels has {labels.Count}.", nameof(labels));
        }
        for (var i = 0; i < features.Count; i++)
            LogisticModel.ValidateRow(features[i], featureNames, $"features[{i}]");
        foreach (var isPositive in new[] { true, false })
        {
            if (!labels.Contains(isPositive))
            {
                throw new ArgumentException(
                    $"labels holds no {ClassName(isPositive)} item: a calibrator's fit needs both classes.",
                    nameof(labels));
            }
        }
    }

    private static string ClassName(bool isPositive) => isPositive ? "positive (hallucinated)" : "negative (grounded)";
}

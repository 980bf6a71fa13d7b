namespace RetrievalGuard.Guard.Risk;

/// <summary>
/// Fits a <see cref="BoostedTreesModel"/>: gradient boosting of depth-limited regression trees on the log-loss, each
/// tree grown greedily on the gradient and Hessian of the current log-odds (split gain GL²/(HL+λ) + GR²/(HR+λ) −
/// G²/(H+λ), leaves −G/(H+λ): Newton steps), thresholds midway between neighbouring values. Deterministic: no
/// sampling. The defaults were chosen by 5-fold cross-validation on the organism's fitting data only.
/// </summary>
public static class BoostedTreesCalibrator
{
    public sealed record Options
    {
        public int Rounds { get; init; } = 300;
        public int MaxDepth { get; init; } = 3;
        public double LearningRate { get; init; } = 0.05;

        /// <summary>Fewest training rows in a leaf: no rule is learned from a handful of answers.</summary>
        public int MinLeaf { get; init; } = 20;

        /// <summary>λ of the leaves' Newton steps (and the split gain).</summary>
        public double L2 { get; init; } = 1.0;

        internal void Validate()
        {
            if (Rounds < 1 || MaxDepth < 1 || MinLeaf < 1)
                throw new ArgumentOutOfRangeException(nameof(Options),
                    $"Rounds ({Rounds}), MaxDepth ({MaxDepth}) and MinLeaf ({MinLeaf}) must be ≥ 1.");
            if (!(LearningRate > 0 && LearningRate <= 1) || !(L2 >= 0) || double.IsInfinity(L2))
                throw new ArgumentOutOfRangeException(nameof(Options),
                    $"LearningRate must be in (0, 1] (is {LearningRate}) and L2 finite and ≥ 0 (is {L2}).");
        }
    }

    /// <exception cref="ArgumentException">Counts disagree, a class is missing, or a feature is NaN or infinite
    /// (the message names the row and feature).</exception>
    public static BoostedTreesModel Fit(IReadOnlyList<IReadOnlyList<double>> features, IReadOnlyList<bool> labels,
        IReadOnlyList<string> featureNames, Options? options = null)
    {
        CrossValidation.ValidateTrainingSet(features, labels, featureNames);
        options ??= new Options();
        options.Validate();
        int n = labels.Count, d = featureNames.Count;
        var positives = labels.Count(l => l);
        var baseLogit = Math.Log(positives / (double)(n - positives));
        var logits = Enumerable.Repeat(baseLogit, n).ToArray();
        // Rows sorted by each feature once; every node walks them in that order.
        var order = Enumerable.Range(0, d)
            .Select(j => Enumerable.Range(0, n).OrderBy(i => features[i][j]).ThenBy(i => i).ToArray())
            .ToArray();
        var trees = new List<RegressionTree>(options.Rounds);
        var gradient = new double[n];
        var hessian = new double[n];
        for (var round = 0; round < options.Rounds; round++)
        {
            for (var i = 0; i < n; i++)
            {
                var p = LogisticModel.Sigmoid(logits[i]);
                gradient[i] = p - (labels[i] ? 1 : 0);
                hessian[i] = Math.Max(p * (1 - p), 1e-12);
            }
            var tree = new TreeBuilder(features, order, gradient, hessian, options).Build();
            for (var i = 0; i < n; i++)
                logits[i] += options.LearningRate * tree.Evaluate(features[i]);
            trees.Add(tree);
        }
        return new BoostedTreesModel(featureNames, baseLogit, options.LearningRate, trees, options.MaxDepth,
            options.MinLeaf, options.L2);
    }

    /// <summary>Out-of-fold probabilities of boosted fits (<see cref="CrossValidation.Predictions"/>).</summary>
    public static double[] CrossValidatedPredictions(IReadOnlyList<IReadOnlyList<double>> features,
        IReadOnlyList<bool> labels, IReadOnlyList<string> featureNames, Options? options = null, int folds = 5,
        int seed = 1) =>
        CrossValidation.Predictions(features, labels, featureNames,
            (rows, training) => Fit(rows, training, featureNames, options), folds, seed);

    /// <summary>Grows one tree depth-first into parallel node arrays.</summary>
    private sealed class TreeBuilder(IReadOnlyList<IReadOnlyList<double>> features, int[][] order,
        double[] gradient, double[] hessian, Options options)
    {
        private readonly List<int> _feature = [], _left = [], _right = [];
        private readonly List<double> _threshold = [], _value = [];
        private readonly bool[] _inNode = new bool[gradient.Length];

        public RegressionTree Build()
        {
            Grow(Enumerable.Range(0, gradient.Length).ToArray(), depth: 0);
            return new RegressionTree(_feature, _threshold, _left, _right, _value);
        }

        private int Grow(int[] rows, int depth)
        {
            var node = _feature.Count;
            double g = 0, h = 0;
            foreach (var i in rows)
                (g, h) = (g + gradient[i], h + hessian[i]);
            _feature.Add(-1);
            _threshold.Add(0);
            _left.Add(-1);
            _right.Add(-1);
            _value.Add(-g / (h + options.L2));
            if (depth >= options.MaxDepth || rows.Length < 2 * options.MinLeaf
                || BestSplit(rows, g, h) is not var (feature, threshold))
                return node;
            var left = rows.Where(i => features[i][feature] <= threshold).ToArray();
            var right = rows.Where(i => features[i][feature] > threshold).ToArray();
            _feature[node] = feature;
            _threshold[node] = threshold;
            _left[node] = Grow(left, depth + 1);
            _right[node] = Grow(right, depth + 1);
            return node;
        }

        /// <summary>The split with the largest gain that leaves MinLeaf rows on each side, or null.</summary>
        private (int Feature, double Threshold)? BestSplit(int[] rows, double g, double h)
        {
            Array.Clear(_inNode);
            foreach (var i in rows)
                _inNode[i] = true;
            double parent = g * g / (h + options.L2), bestGain = 1e-12;
            (int, double)? best = null;
            for (var j = 0; j < order.Length; j++)
            {
                double gl = 0, hl = 0;
                var count = 0;
                var previous = -1;
                foreach (var i in order[j])
                {
                    if (!_inNode[i])
                        continue;
                    if (previous >= 0 && count >= options.MinLeaf && rows.Length - count >= options.MinLeaf
                        && features[i][j] > features[previous][j])
                    {
                        var gain = gl * gl / (hl + options.L2) + (g - gl) * (g - gl) / (h - hl + options.L2) - parent;
                        if (gain > bestGain)
                            (bestGain, best) = (gain, (j, (features[previous][j] + features[i][j]) / 2));
                    }
                    gl += gradient[i];
                    hl += hessian[i];
                    count++;
                    previous = i;
                }
            }
            return best;
        }
    }
}

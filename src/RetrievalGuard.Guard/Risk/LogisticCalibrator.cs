using System.Globalization;

namespace RetrievalGuard.Guard.Risk;

/// <summary>
/// Turns feature vectors into a calibrated probability of "hallucinated": each feature is standardised, then an
/// L2-regularised logistic regression is fitted by Newton's method (IRLS) with a backtracking line search.
/// The penalty is λ/2·‖w‖² on the summed log-loss (scikit-learn's C = 1/λ), the bias unpenalised: it keeps
/// weights finite on perfectly separable data and on constant features, yet barely shrinks a fit on thousands of rows.
/// </summary>
public static class LogisticCalibrator
{
    /// <summary>Newton stops once no coefficient moves by more than this.</summary>
    private const double ConvergenceTolerance = 1e-9;

    /// <summary>
    /// A feature whose spread is below this fraction of its magnitude is constant: rounding in the mean of a large
    /// constant must not be mistaken for signal and blown up by standardisation.
    /// </summary>
    private const double ConstantFeatureSpread = 1e-12;

    /// <summary>The objective may rise by this relative amount from rounding alone once Newton has converged.</summary>
    private const double ObjectiveRoundingSlack = 1e-12;

    private const int MaxStepHalvings = 60;

    /// <summary>Fits a model on <paramref name="features"/>: one row per answer, one column per feature.</summary>
    /// <param name="l2">λ of the penalty λ/2·‖w‖² on the standardised weights; must be positive.</param>
    /// <exception cref="ArgumentException">
    /// Counts disagree, a class is missing, or a feature is NaN or infinite (the message names the row and feature).
    /// </exception>
    /// <exception cref="InvalidOperationException">
    /// Newton's method did not converge in <paramref name="maxIterations"/> steps.
    /// </exception>
    public static LogisticModel Fit(
        IReadOnlyList<IReadOnlyList<double>> features,
        IReadOnlyList<bool> labels,
        IReadOnlyList<string> featureNames,
        double l2 = 1e-2,
        int maxIterations = 100)
    {
        CrossValidation.ValidateTrainingSet(features, labels, featureNames);
        if (!(l2 > 0) || double.IsInfinity(l2))
        {
            throw new ArgumentOutOfRangeException(
                nameof(l2),
                l2,
                "l2 must be positive and finite: it keeps separable data and constant features finite.");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(maxIterations, 1);

        var (means, scales) = Standardisation(features, featureNames.Count);
        var design = features
            .Select(row => row.Select((x, j) => (x - means[j]) / scales[j]).Append(1.0).ToArray())
            .ToArray();
        var coefficients = Newton(design, labels, l2, maxIterations);
        return new LogisticModel(featureNames, means, scales, coefficients[..^1], coefficients[^1], l2);
    }

    /// <summary>Out-of-fold probabilities of logistic fits (<see cref="CrossValidation.Predictions"/>).</summary>
    /// <exception cref="ArgumentException">As <see cref="Fit"/>, or a class has fewer than two rows.</exception>
    public static double[] CrossValidatedPredictions(
        IReadOnlyList<IReadOnlyList<double>> features,
        IReadOnlyList<bool> labels,
        IReadOnlyList<string> featureNames,
        int folds = 5,
        int seed = 1,
        double l2 = 1e-2) =>
        CrossValidation.Predictions(features, labels, featureNames,
            (rows, training) => Fit(rows, training, featureNames, l2), folds, seed);

    /// <summary>Per-feature mean and population standard deviation; a constant feature gets scale 1
    /// (z ≈ 0).</summary>
    private static (double[] Means, double[] Scales) Standardisation(
        IReadOnlyList<IReadOnlyList<double>> features, int featureCount)
    {
        var means = new double[featureCount];
        var scales = new double[featureCount];
        for (var j = 0; j < featureCount; j++)
        {
            var mean = features.Average(row => row[j]);
            var std = Math.Sqrt(features.Average(row => (row[j] - mean) * (row[j] - mean)));
            means[j] = mean;
            scales[j] = std <= ConstantFeatureSpread * Math.Max(1, Math.Abs(mean)) ? 1 : std;
        }
        return (means, scales);
    }

    /// <summary>
    /// Minimises Σᵢ log(1 + e^−sᵢtᵢ) + λ/2·‖w‖² (sᵢ = ±1, tᵢ = θ·xᵢ, the last coefficient the
    /// unpenalised bias). The penalty makes the objective strictly convex, so damped Newton converges even on separable
    /// data.
    /// </summary>
    private static double[] Newton(double[][] design, IReadOnlyList<bool> labels, double l2, int maxIterations)
    {
        var size = design[0].Length;
        var coefficients = new double[size];
        var objective = Objective(design, labels, coefficients, l2);
        var change = double.PositiveInfinity;
        for (var iteration = 0; iteration < maxIterations && change >= ConvergenceTolerance; iteration++)
        {
            var step = SolveCholesky(Hessian(design, coefficients, l2), Gradient(design, labels, coefficients, l2));
            var stepScale = 1.0;
            for (var halving = 0; ; halving++)
            {
                var candidate = coefficients.Select((c, k) => c - stepScale * step[k]).ToArray();
                var candidateObjective = Objective(design, labels, candidate, l2);
                if (candidateObjective <= objective + ObjectiveRoundingSlack * Math.Max(1, Math.Abs(objective)))
                {
                    change = step.Max(Math.Abs) * stepScale;
                    (coefficients, objective) = (candidate, candidateObjective);
                    break;
                }
                if (halving == MaxStepHalvings)
                    return coefficients; // No step lowers the objective beyond rounding: this is its minimum.
                stepScale /= 2;
            }
        }
        if (change >= ConvergenceTolerance)
        {
            throw new InvalidOperationException(
                $"The logistic fit did not converge in {maxIterations} Newton steps "
                + $"(last change {change.ToString(CultureInfo.InvariantCulture)}).");
        }
        return coefficients;
    }

    private static double Objective(double[][] design, IReadOnlyList<bool> labels, double[] coefficients, double l2)
    {
        double sum = 0;
        for (var i = 0; i < design.Length; i++)
        {
            var logit = Dot(design[i], coefficients);
            sum += Softplus(labels[i] ? -logit : logit); // −log P(label) = log(1 + e^(∓t)).
        }
        for (var k = 0; k < coefficients.Length - 1; k++)
            sum += l2 / 2 * coefficients[k] * coefficients[k];
        return sum;
    }

    /// <summary>Xᵀ(p − y) + λw.</summary>
    private static double[] Gradient(double[][] design, IReadOnlyList<bool> labels, double[] coefficients, double l2)
    {
        var gradient = new double[coefficients.Length];
        for (var i = 0; i < design.Length; i++)
        {
            var residual = LogisticModel.Sigmoid(Dot(design[i], coefficients)) - (labels[i] ? 1 : 0);
            for (var k = 0; k < gradient.Length; k++)
                gradient[k] += residual * design[i][k];
        }
        for (var k = 0; k < gradient.Length - 1; k++)
            gradient[k] += l2 * coefficients[k];
        return gradient;
    }

    /// <summary>
    /// XᵀWX + λI on the weights, W = p(1 − p) computed as σ(t)·σ(−t) so that confident rows keep a tiny
    /// positive weight instead of cancelling to zero.
    /// </summary>
    private static double[,] Hessian(double[][] design, double[] coefficients, double l2)
    {
        var size = coefficients.Length;
        var hessian = new double[size, size];
        foreach (var row in design)
        {
            var logit = Dot(row, coefficients);
            var weight = LogisticModel.Sigmoid(logit) * LogisticModel.Sigmoid(-logit);
            for (var a = 0; a < size; a++)
            {
                for (var b = 0; b <= a; b++)
                    hessian[a, b] += weight * row[a] * row[b];
            }
        }
        for (var k = 0; k < size - 1; k++)
            hessian[k, k] += l2;
        return hessian;
    }

    /// <summary>
    /// Solves A·x = b for a symmetric positive-definite A given by its lower triangle, through A = LLᵀ: the Newton
    /// system here is at most a few dozen unknowns, so a library would be more code to carry than this.
    /// </summary>
    private static double[] SolveCholesky(double[,] matrix, double[] rightHandSide)
    {
        var size = rightHandSide.Length;
        var lower = new double[size, size];
        for (var a = 0; a < size; a++)
        {
            for (var b = 0; b <= a; b++)
            {
                var sum = matrix[a, b];
                for (var k = 0; k < b; k++)
                    sum -= lower[a, k] * lower[b, k];
                if (a != b)
                    lower[a, b] = sum / lower[b, b];
                else if (sum > 0)
                    lower[a, a] = Math.Sqrt(sum);
                else
                    throw new InvalidOperationException("The Newton system is not positive definite.");
            }
        }
        var solution = new double[size];
        for (var a = 0; a < size; a++) // Forward: L·y = b.
        {
            var sum = rightHandSide[a];
            for (var k = 0; k < a; k++)
                sum -= lower[a, k] * solution[k];
            solution[a] = sum / lower[a, a];
        }
        for (var a = size - 1; a >= 0; a--) // Backward: Lᵀ·x = y.
        {
            var sum = solution[a];
            for (var k = a + 1; k < size; k++)
                sum -= lower[k, a] * solution[k];
            solution[a] = sum / lower[a, a];
        }
        return solution;
    }

    private static double Dot(double[] row, double[] coefficients)
    {
        double sum = 0;
        for (var k = 0; k < row.Length; k++)
            sum += row[k] * coefficients[k];
        return sum;
    }

    /// <summary>log(1 + eᵗ) without overflow for large t.</summary>
    private static double Softplus(double t) => Math.Max(t, 0) + Math.Log(1 + Math.Exp(-Math.Abs(t)));
}

using System.Text.Json;
using System.Text.Json.Serialization;

namespace RetrievalGuard.Guard.Risk;

/// <summary>
/// A fitted logistic regression on standardised features: P(hallucinated) = σ(w · (x − mean) / scale + bias).
/// Standardising keeps the L2 penalty fair across features of different units.
/// </summary>
public sealed record LogisticModel(
    IReadOnlyList<string> FeatureNames,
    IReadOnlyList<double> Means,
    IReadOnlyList<double> Scales,
    IReadOnlyList<double> Weights,
    double Bias,
    double L2)
{
    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        WriteIndented = false,
    };

    public double Predict(IReadOnlyList<double> features) => Sigmoid(Logit(features));

    public double Logit(IReadOnlyList<double> features)
    {
        ArgumentNullException.ThrowIfNull(features);
        if (features.Count != FeatureNames.Count)
            throw new ArgumentException(
                $"The calibrator takes {FeatureNames.Count} features ({string.Join(", ", FeatureNames)}), not {features.Count}.",
                nameof(features));
        var z = Bias;
        for (var i = 0; i < features.Count; i++)
        {
            if (!double.IsFinite(features[i]))
                throw new ArgumentException($"Feature '{FeatureNames[i]}' is {features[i]}.", nameof(features));
            z += Weights[i] * (features[i] - Means[i]) / Scales[i];
        }
        return z;
    }

    /// <summary>σ(z) without overflow for large |z|.</summary>
    public static double Sigmoid(double z) => z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));
}

/// <summary>
/// Fits <see cref="LogisticModel"/>s: L2-regularised logistic regression by Newton's method (IRLS) on standardised
/// features. The loss is the mean log-loss plus λ/2·‖w‖² (the bias is not penalised), so λ means the same for any
/// number of items, and separable data still converges to finite weights.
/// </summary>
public static class LogisticCalibrator
{
    public static LogisticModel Fit(IReadOnlyList<IReadOnlyList<double>> features, IReadOnlyList<bool> labels,
        IReadOnlyList<string> featureNames, double l2 = 1e-2, int maxIterations = 100)
    {
        Validate(features, labels, featureNames);
        int n = features.Count, d = featureNames.Count;
        var means = new double[d];
        var scales = new double[d];
        for (var j = 0; j < d; j++)
        {
            var column = features.Select(f => f[j]).ToArray();
            means[j] = column.Average();
            var std = Math.Sqrt(column.Average(v => (v - means[j]) * (v - means[j])));
            scales[j] = std < 1e-12 ? 1 : std;
        }
        var x = features.Select(f => Enumerable.Range(0, d).Select(j => (f[j] - means[j]) / scales[j]).Append(1.0).ToArray())
            .ToArray();
        var y = labels.Select(l => l ? 1.0 : 0.0).ToArray();
        var beta = new double[d + 1];
        for (var iteration = 0; iteration < maxIterations; iteration++)
        {
            // Gradient and Hessian of the mean log-loss plus λ/2‖w‖².
            var gradient = new double[d + 1];
            var hessian = new double[d + 1, d + 1];
            for (var i = 0; i < n; i++)
            {
                var p = LogisticModel.Sigmoid(Dot(beta, x[i]));
                for (var a = 0; a <= d; a++)
                {
                    gradient[a] += (p - y[i]) * x[i][a] / n;
                    for (var b = 0; b <= a; b++)
                        hessian[a, b] += p * (1 - p) * x[i][a] * x[i][b] / n;
                }
            }
            for (var a = 0; a <= d; a++)
                for (var b = a + 1; b <= d; b++)
                    hessian[a, b] = hessian[b, a];
            for (var j = 0; j < d; j++)
            {
                gradient[j] += l2 * beta[j];
                hessian[j, j] += l2;
            }
            hessian[d, d] += 1e-9;
            var step = Solve(hessian, gradient);
            var change = 0.0;
            for (var a = 0; a <= d; a++)
            {
                beta[a] -= step[a];
                change = Math.Max(change, Math.Abs(step[a]));
            }
            if (change < 1e-9)
                break;
        }
        return new LogisticModel(featureNames.ToArray(), means, scales, beta[..d], beta[d], l2);
    }

    /// <summary>
    /// Out-of-fold probabilities: stratified folds (by a seeded shuffle), each item predicted by the model fitted
    /// without its fold. Honest calibration figures from the fitting data alone.
    /// </summary>
    public static double[] CrossValidatedPredictions(IReadOnlyList<IReadOnlyList<double>> features,
        IReadOnlyList<bool> labels, IReadOnlyList<string> featureNames, int folds = 5, int seed = 1, double l2 = 1e-2)
    {
        Validate(features, labels, featureNames);
        if (folds < 2)
            throw new ArgumentOutOfRangeException(nameof(folds), folds, "Cross-validation needs at least 2 folds.");
        var rng = new Random(seed);
        var fold = new int[features.Count];
        foreach (var label in new[] { false, true })
        {
            var members = Enumerable.Range(0, features.Count).Where(i => labels[i] == label).OrderBy(_ => rng.Next()).ToArray();
            for (var k = 0; k < members.Length; k++)
                fold[members[k]] = k % folds;
        }
        var predictions = new double[features.Count];
        for (var f = 0; f < folds; f++)
        {
            var train = Enumerable.Range(0, features.Count).Where(i => fold[i] != f).ToArray();
            var model = Fit(train.Select(i => features[i]).ToArray(), train.Select(i => labels[i]).ToArray(), featureNames, l2);
            foreach (var i in Enumerable.Range(0, features.Count).Where(i => fold[i] == f))
                predictions[i] = model.Predict(features[i]);
        }
        return predictions;
    }

    private static void Validate(IReadOnlyList<IReadOnlyList<double>> features, IReadOnlyList<bool> labels,
        IReadOnlyList<string> featureNames)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(featureNames);
        if (features.Count != labels.Count)
            throw new ArgumentException($"{features.Count} feature rows but {labels.Count} labels.", nameof(labels));
        if (featureNames.Count == 0)
            throw new ArgumentException("At least one feature is needed.", nameof(featureNames));
        if (!labels.Contains(true) || !labels.Contains(false))
            throw new ArgumentException("The labels need both classes (grounded and hallucinated) to fit a calibrator.", nameof(labels));
        for (var i = 0; i < features.Count; i++)
        {
            if (features[i].Count != featureNames.Count)
                throw new ArgumentException($"Row {i} has {features[i].Count} features, not {featureNames.Count}.", nameof(features));
            for (var j = 0; j < featureNames.Count; j++)
                if (!double.IsFinite(features[i][j]))
                    throw new ArgumentException($"Row {i}: feature '{featureNames[j]}' is {features[i][j]}.", nameof(features));
        }
    }

    private static double Dot(double[] a, double[] b)
    {
        var sum = 0.0;
        for (var i = 0; i < a.Length; i++)
            sum += a[i] * b[i];
        return sum;
    }

    // Gaussian elimination with partial pivoting on a small symmetric positive definite system.
    private static double[] Solve(double[,] matrix, double[] vector)
    {
        var n = vector.Length;
        var a = (double[,])matrix.Clone();
        var b = (double[])vector.Clone();
        for (var col = 0; col < n; col++)
        {
            var pivot = col;
            for (var row = col + 1; row < n; row++)
                if (Math.Abs(a[row, col]) > Math.Abs(a[pivot, col]))
                    pivot = row;
            if (pivot != col)
            {
                for (var k = 0; k < n; k++)
                    (a[col, k], a[pivot, k]) = (a[pivot, k], a[col, k]);
                (b[col], b[pivot]) = (b[pivot], b[col]);
            }
            for (var row = col + 1; row < n; row++)
            {
                var factor = a[row, col] / a[col, col];
                for (var k = col; k < n; k++)
                    a[row, k] -= factor * a[col, k];
                b[row] -= factor * b[col];
            }
        }
        var x = new double[n];
        for (var row = n - 1; row >= 0; row--)
        {
            var sum = b[row];
            for (var k = row + 1; k < n; k++)
                sum -= a[row, k] * x[k];
            x[row] = sum / a[row, row];
        }
        return x;
    }
}

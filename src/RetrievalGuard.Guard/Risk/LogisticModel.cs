using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RetrievalGuard.Guard.Risk;

/// <summary>
/// A fitted logistic calibrator: the probability that an answer is hallucinated is
/// sigmoid(Σⱼ Weightsⱼ·(xⱼ − Meansⱼ) / Scalesⱼ + Bias). Weights apply to standardised features, so their
/// sizes compare across features; the model saves as snake_case JSON through <see cref="JsonOptions"/>.
/// </summary>
public sealed record LogisticModel : IRiskModel
{
    /// <summary>snake_case names (<c>feature_names</c>, <c>l2</c>, …), indented, so saved models diff well.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = CreateJsonOptions();

    /// <exception cref="ArgumentException">The lists are empty, differ in length, or hold a non-finite number.
    /// </exception>
    [JsonConstructor]
    public LogisticModel(
        IReadOnlyList<string> featureNames,
        IReadOnlyList<double> means,
        IReadOnlyList<double> scales,
        IReadOnlyList<double> weights,
        double bias,
        double l2)
    {
        RequireFeatureNames(featureNames);
        FeatureNames = [.. featureNames];
        Means = PerFeature(means, nameof(means));
        Scales = PerFeature(scales, nameof(scales));
        Weights = PerFeature(weights, nameof(weights));
        for (var j = 0; j < Scales.Count; j++)
        {
            if (Scales[j] <= 0)
            {
                throw new ArgumentException(
                    $"scales[{j}] ('{FeatureNames[j]}') is {Format(Scales[j])}; a scale must be positive.",
                    nameof(scales));
            }
        }
        if (!double.IsFinite(bias))
            throw new ArgumentException($"bias is {Format(bias)}; it must be finite.", nameof(bias));
        if (!(l2 >= 0) || double.IsInfinity(l2))
            throw new ArgumentException($"l2 is {Format(l2)}; it must be finite and not negative.", nameof(l2));
        Bias = bias;
        L2 = l2;
    }

    public IReadOnlyList<string> FeatureNames { get; }

    /// <summary>Per-feature means of the training rows, subtracted before scaling.</summary>
    public IReadOnlyList<double> Means { get; }

    /// <summary>Per-feature population standard deviations of the training rows (1 for a constant feature).</summary>
    public IReadOnlyList<double> Scales { get; }

    /// <summary>Weights on the standardised features.</summary>
    public IReadOnlyList<double> Weights { get; }

    public double Bias { get; }

    /// <summary>The L2 strength the model was fitted with, kept so a saved model says how it was made.</summary>
    public double L2 { get; }

    /// <summary>The probability, in (0, 1), that the answer described by <paramref name="features"/> is hallucinated.
    /// </summary>
    /// <exception cref="ArgumentException">The feature count is not the model's, or a feature is NaN or infinite.
    /// </exception>
    public double Predict(IReadOnlyList<double> features) => Sigmoid(Logit(features));

    /// <summary>The log-odds of "hallucinated": useful to combine with other evidence before squashing.</summary>
    /// <exception cref="ArgumentException">The feature count is not the model's, or a feature is NaN or infinite.
    /// </exception>
    public double Logit(IReadOnlyList<double> features)
    {
        ValidateRow(features, FeatureNames, nameof(features));
        var logit = Bias;
        for (var j = 0; j < Weights.Count; j++)
            logit += Weights[j] * (features[j] - Means[j]) / Scales[j];
        return logit;
    }

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <exception cref="JsonException">The text is not a model in <see cref="JsonOptions"/>' format.</exception>
    public static LogisticModel FromJson(string json) =>
        JsonSerializer.Deserialize<LogisticModel>(json, JsonOptions)
        ?? throw new JsonException("The JSON holds null, not a logistic model.");

    /// <summary>1 / (1 + e^−t), evaluated so that neither branch overflows for large |t|.</summary>
    internal static double Sigmoid(double logit)
    {
        if (logit >= 0)
            return 1 / (1 + Math.Exp(-logit));
        var exp = Math.Exp(logit);
        return exp / (1 + exp);
    }

    internal static void RequireFeatureNames(IReadOnlyList<string> featureNames)
    {
        ArgumentNullException.ThrowIfNull(featureNames);
        if (featureNames.Count == 0)
        {
            throw new ArgumentException(
                "featureNames is empty: a model needs at least one feature.", nameof(featureNames));
        }
    }

    /// <summary>
    /// The check a feature vector passes before it meets a model, shared by fitting and prediction so both report a
    /// bad row the same way: <paramref name="rowName"/> names the row (<c>features</c>, <c>features[12]</c>).
    /// </summary>
    internal static void ValidateRow(IReadOnlyList<double> row, IReadOnlyList<string> featureNames, string rowName)
    {
        ArgumentNullException.ThrowIfNull(row, rowName);
        if (row.Count != featureNames.Count)
        {
            throw new ArgumentException(
                $"{rowName} has {row.Count} values but {featureNames.Count} features are named "
                + $"({string.Join(", ", featureNames)}).",
                rowName);
        }
        for (var j = 0; j < row.Count; j++)
        {
            if (!double.IsFinite(row[j]))
                throw new ArgumentException($"{rowName}[{j}] ('{featureNames[j]}') is {Format(row[j])}.", rowName);
        }
    }

    private IReadOnlyList<double> PerFeature(IReadOnlyList<double> values, string name)
    {
        ValidateRow(values, FeatureNames, name);
        return [.. values];
    }

    private static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);

    private static JsonSerializerOptions CreateJsonOptions()
    {
        var options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            WriteIndented = true,
        };
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}

using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RetrievalGuard.Guard.Risk;

/// <summary>
/// One regression tree of a <see cref="BoostedTreesModel"/>, as parallel arrays over its nodes (node 0 the root): an
/// inner node sends a row left when its <see cref="Feature"/> value is ≤ <see cref="Threshold"/>; a leaf
/// (<see cref="Feature"/> −1) adds its <see cref="Value"/> to the log-odds.
/// </summary>
public sealed record RegressionTree(
    IReadOnlyList<int> Feature,
    IReadOnlyList<double> Threshold,
    IReadOnlyList<int> Left,
    IReadOnlyList<int> Right,
    IReadOnlyList<double> Value)
{
    public double Evaluate(IReadOnlyList<double> features)
    {
        var node = 0;
        while (Feature[node] >= 0)
            node = features[Feature[node]] <= Threshold[node] ? Left[node] : Right[node];
        return Value[node];
    }

    /// <summary>Arrays of one length, children inside the tree and after their parent (no cycles), features in range,
    /// finite numbers; the message names the tree and node.</summary>
    internal void Validate(int featureCount, string name)
    {
        var count = Feature.Count;
        if (count == 0 || Threshold.Count != count || Left.Count != count || Right.Count != count
            || Value.Count != count)
            throw new ArgumentException($"{name}: feature, threshold, left, right and value must have one length > 0.");
        for (var node = 0; node < count; node++)
        {
            if (!double.IsFinite(Value[node]) || !double.IsFinite(Threshold[node]))
                throw new ArgumentException($"{name}, node {node}: threshold and value must be finite.");
            if (Feature[node] < 0)
                continue;
            if (Feature[node] >= featureCount)
                throw new ArgumentException(
                    $"{name}, node {node}: feature {Feature[node]} is not one of the model's {featureCount}.");
            if (Left[node] <= node || Right[node] <= node || Left[node] >= count || Right[node] >= count)
                throw new ArgumentException($"{name}, node {node}: children must be later nodes of the tree.");
        }
    }
}

/// <summary>
/// A fitted gradient-boosted tree calibrator: the probability that an answer is hallucinated is
/// sigmoid(<see cref="BaseLogit"/> + <see cref="LearningRate"/>·Σ trees(x)). Trees split on raw feature values, so no
/// standardisation is kept; the fit's settings are saved beside the trees so a file says how it was made.
/// </summary>
public sealed record BoostedTreesModel : IRiskModel
{
    [JsonConstructor]
    public BoostedTreesModel(IReadOnlyList<string> featureNames, double baseLogit, double learningRate,
        IReadOnlyList<RegressionTree> trees, int maxDepth, int minLeaf, double l2)
    {
        LogisticModel.RequireFeatureNames(featureNames);
        ArgumentNullException.ThrowIfNull(trees);
        if (!double.IsFinite(baseLogit))
            throw new ArgumentException($"base_logit is {Format(baseLogit)}; it must be finite.", nameof(baseLogit));
        if (!(learningRate > 0) || !double.IsFinite(learningRate))
            throw new ArgumentException($"learning_rate is {Format(learningRate)}; it must be positive.",
                nameof(learningRate));
        for (var t = 0; t < trees.Count; t++)
            trees[t].Validate(featureNames.Count, $"trees[{t}]");
        (FeatureNames, BaseLogit, LearningRate, Trees) = ([.. featureNames], baseLogit, learningRate, [.. trees]);
        (MaxDepth, MinLeaf, L2) = (maxDepth, minLeaf, l2);
    }

    public IReadOnlyList<string> FeatureNames { get; }

    /// <summary>Log-odds of the training set's hallucinated share: where boosting starts.</summary>
    public double BaseLogit { get; }

    public double LearningRate { get; }
    public IReadOnlyList<RegressionTree> Trees { get; }
    public int MaxDepth { get; }
    public int MinLeaf { get; }
    public double L2 { get; }

    public double Predict(IReadOnlyList<double> features) => LogisticModel.Sigmoid(Logit(features));

    /// <summary>The log-odds of "hallucinated".</summary>
    public double Logit(IReadOnlyList<double> features)
    {
        LogisticModel.ValidateRow(features, FeatureNames, nameof(features));
        var sum = 0.0;
        foreach (var tree in Trees)
            sum += tree.Evaluate(features);
        return BaseLogit + LearningRate * sum;
    }

    public string ToJson() => JsonSerializer.Serialize(this, LogisticModel.JsonOptions);

    /// <exception cref="JsonException">The text is not a model in <see cref="LogisticModel.JsonOptions"/>' format.
    /// </exception>
    public static BoostedTreesModel FromJson(string json) =>
        JsonSerializer.Deserialize<BoostedTreesModel>(json, LogisticModel.JsonOptions)
        ?? throw new JsonException("The JSON holds null, not a boosted-trees model.");

    private static string Format(double value) => value.ToString(CultureInfo.InvariantCulture);
}

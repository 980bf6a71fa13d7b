namespace RetrievalGuard.Data;

/// <summary>Draws the task kind of each training sample in proportion to <see cref="MixtureWeights"/>.</summary>
public sealed class Mixture
{
    private static readonly TaskKind[] TrainingKinds =
        [TaskKind.Text, TaskKind.Niah, TaskKind.Rag, TaskKind.ClosedBook, TaskKind.Conflict];

    private readonly double[] _cumulative;
    private readonly TaskKind _lastWeightedKind;

    /// <exception cref="ArgumentException">
    /// A weight is negative or not finite, or the weights do not sum to more than 0.
    /// </exception>
    public Mixture(MixtureWeights weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        Weights = weights;
        var values = TrainingKinds.Select(weights.WeightOf).ToArray();
        if (values.Any(w => !double.IsFinite(w) || w < 0))
            throw new ArgumentException($"Mixture weights must be finite and non-negative: {weights}.",
                nameof(weights));
        var total = values.Sum();
        if (!(total > 0))
            throw new ArgumentException($"Mixture weights must sum to more than 0: {weights}.", nameof(weights));
        _cumulative = new double[values.Length];
        var running = 0.0;
        for (var i = 0; i < values.Length; i++)
            _cumulative[i] = (running += values[i]) / total;
        _lastWeightedKind = TrainingKinds[Array.FindLastIndex(values, w => w > 0)];
    }

    public static Mixture BestRun { get; } = new(MixtureWeights.BestRun);

    public static Mixture Paraphrasing { get; } = new(MixtureWeights.Paraphrasing);

    public static Mixture ReadingFirst { get; } = new(MixtureWeights.ReadingFirst);

    public MixtureWeights Weights { get; }

    public double Probability(TaskKind kind) => Weights.WeightOf(kind) / TrainingKinds.Sum(Weights.WeightOf);

    public TaskKind Pick(Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var ticket = rng.NextDouble();
        for (var i = 0; i < _cumulative.Length; i++)
        {
            // A zero weight repeats the previous bound, so that kind can never be picked.
            if (ticket < _cumulative[i])
                return TrainingKinds[i];
        }
        // Rounding can leave the last bound a hair below 1.
        return _lastWeightedKind;
    }
}

namespace RetrievalGuard.Data;

/// <summary>
/// What the training stream draws: the task mixture and how often passages carry distractors. Named, so that a
/// training run says which one it used and the shipped model's recipe stays reproducible while others are tried.
/// </summary>
public sealed record TrainingMix(string Name, Mixture Mixture, DistractorMix Distractors)
{
    /// <summary>Organism v2 as shipped (2026-12-03): <see cref="MixtureWeights.Paraphrasing"/>.</summary>
    public static TrainingMix Paraphrasing { get; } =
        new("paraphrasing", Mixture.Paraphrasing, DistractorMix.Default);

    /// <summary>
    /// An experiment of 2026-12-03 (benchmarks/results/organism-reading-first-h200-2026-12-03): more reading and
    /// a same-attribute distractor in 85% of passage sets. It did not teach the model to tell people apart and spread
    /// retrieval over 17 heads, so it is not the default.
    /// </summary>
    public static TrainingMix ReadingFirst { get; } =
        new("reading-first", Mixture.ReadingFirst, DistractorMix.Training);

    public static IReadOnlyList<TrainingMix> All { get; } = [Paraphrasing, ReadingFirst];

    /// <exception cref="ArgumentException">No mix has that name.</exception>
    public static TrainingMix Parse(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name?.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException(
            $"Unknown training mix '{name}': use {string.Join(" or ", All.Select(m => m.Name))}.", nameof(name));
}

using RetrievalGuard.Data;
namespace RetrievalGuard.Organism.Training;

/// <summary>AdamW with linear warm-up and cosine decay, as in the organism notes' best run.</summary>
public sealed record TrainingOptions
{
    public int Steps { get; init; } = 4000;
    public int TokensPerStep { get; init; } = 65536;
    public double PeakLearningRate { get; init; } = 3e-3;
    public int WarmupSteps { get; init; } = 200;
    /// <summary>The cosine ends at this fraction of the peak.</summary>
    public double FinalLearningRateFraction { get; init; } = 0.1;
    public double WeightDecay { get; init; } = 0.1;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.95;
    public double GradientClip { get; init; } = 1.0;
    public long Seed { get; init; }

    public double LearningRate(int step)
    {
        if (step < WarmupSteps) return PeakLearningRate * (step + 1) / WarmupSteps;
        double progress = Math.Min(1, (double)(step - WarmupSteps) / Math.Max(1, Steps - WarmupSteps));
        double cosine = 0.5 * (1 + Math.Cos(Math.PI * progress));
        return PeakLearningRate * (FinalLearningRateFraction + (1 - FinalLearningRateFraction) * cosine);
    }

    public void Validate()
    {
        if (Steps <= 0) throw new ArgumentOutOfRangeException(nameof(Steps), Steps, "Steps must be positive.");
        if (TokensPerStep <= 0)
            throw new ArgumentOutOfRangeException(nameof(TokensPerStep), TokensPerStep,
                "TokensPerStep must be positive.");
        if (PeakLearningRate <= 0)
            throw new ArgumentOutOfRangeException(nameof(PeakLearningRate), PeakLearningRate,
                "The learning rate must be positive.");
        if (WarmupSteps < 0)
            throw new ArgumentOutOfRangeException(nameof(WarmupSteps), WarmupSteps, "WarmupSteps must be ≥ 0.");
    }
}

namespace RetrievalGuard.Data;

/// <summary>
/// Short contexts first: the longest allowed length grows geometrically from <see cref="StartMaxTokens"/> to
/// <see cref="FullMaxTokens"/>, reached at <see cref="FullAtProgress"/> of training (organism-notes: 40%, which
/// turned NIAH from 0% to 48–80%). Each step's length is drawn log-uniformly between the minimum and that cap; with
/// <see cref="ShortShare"/>, that share of steps stays at most <see cref="ShortMaxTokens"/> long, where a step holds
/// many more (and so many more supervised) questions: reading skills are learned there, positions at the long ones.
/// </summary>
public sealed class LengthCurriculum
{
    /// <exception cref="ArgumentException">A length below <see cref="ContextLength.Minimum"/>, caps out of order, or a
    /// progress outside (0, 1].</exception>
    public LengthCurriculum(int minTokens = 128, int startMaxTokens = 256, int fullMaxTokens = 2048,
        double fullAtProgress = 0.4, double shortShare = 0, int shortMaxTokens = 384)
    {
        ContextLength.Validate(minTokens, nameof(minTokens));
        if (startMaxTokens < minTokens)
            throw new ArgumentException($"The starting cap {startMaxTokens} is below the minimum {minTokens}.",
                nameof(startMaxTokens));
        if (fullMaxTokens < startMaxTokens)
            throw new ArgumentException($"The full cap {fullMaxTokens} is below the starting cap {startMaxTokens}.",
                nameof(fullMaxTokens));
        if (!(fullAtProgress is > 0 and <= 1))
            throw new ArgumentException(
                $"The full length must be reached at a progress in (0, 1], not {fullAtProgress}.",
                nameof(fullAtProgress));
        if (!(shortShare is >= 0 and < 1))
            throw new ArgumentException($"The share of short steps must be in [0, 1), not {shortShare}.",
                nameof(shortShare));
        if (shortMaxTokens < minTokens)
            throw new ArgumentException($"The short cap {shortMaxTokens} is below the minimum {minTokens}.",
                nameof(shortMaxTokens));
        ShortShare = shortShare;
        ShortMaxTokens = shortMaxTokens;
        MinTokens = minTokens;
        StartMaxTokens = startMaxTokens;
        FullMaxTokens = fullMaxTokens;
        FullAtProgress = fullAtProgress;
    }

    public static LengthCurriculum BestRun { get; } = new();

    /// <summary>Organism v2: the best run's curriculum with 40% of steps at most 384 tokens long.</summary>
    public static LengthCurriculum ShortHeavy { get; } = new(shortShare: 0.4);

    public double ShortShare { get; }

    public int ShortMaxTokens { get; }

    public int MinTokens { get; }

    public int StartMaxTokens { get; }

    public int FullMaxTokens { get; }

    public double FullAtProgress { get; }

    /// <param name="progress">Fraction of training done, 0 to 1.</param>
    public int MaxTokensAt(double progress)
    {
        var t = Math.Clamp(progress / FullAtProgress, 0, 1);
        return (int)Math.Round(StartMaxTokens * Math.Pow((double)FullMaxTokens / StartMaxTokens, t));
    }

    public int Sample(double progress, Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var max = MaxTokensAt(progress);
        // The draw for the short share always happens, so lengths stay a pure function of (seed, step) either way.
        if (rng.NextDouble() < ShortShare)
            max = Math.Min(max, ShortMaxTokens);
        var logLength = Math.Log(MinTokens) + (rng.NextDouble() * (Math.Log(max) - Math.Log(MinTokens)));
        return Math.Clamp((int)Math.Round(Math.Exp(logLength)), MinTokens, max);
    }
}

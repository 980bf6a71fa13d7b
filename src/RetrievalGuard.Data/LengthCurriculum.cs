namespace RetrievalGuard.Data;

/// <summary>
/// Short contexts first: the longest allowed length grows geometrically from <see cref="StartMaxTokens"/> to
/// <see cref="FullMaxTokens"/>, reached at <see cref="FullAtProgress"/> of training (organism-notes: 40%, which
/// turned NIAH from 0% to 48–80%). Each step's length is drawn log-uniformly between the minimum and that cap.
/// </summary>
public sealed class LengthCurriculum
{
    /// <exception cref="ArgumentException">A length below <see cref="ContextLength.Minimum"/>, caps out of order, or a progress outside (0, 1].</exception>
    public LengthCurriculum(int minTokens = 128, int startMaxTokens = 256, int fullMaxTokens = 2048, double fullAtProgress = 0.4)
    {
        ContextLength.Validate(minTokens, nameof(minTokens));
        if (startMaxTokens < minTokens)
            throw new ArgumentException($"The starting cap {startMaxTokens} is below the minimum {minTokens}.", nameof(startMaxTokens));
        if (fullMaxTokens < startMaxTokens)
            throw new ArgumentException($"The full cap {fullMaxTokens} is below the starting cap {startMaxTokens}.", nameof(fullMaxTokens));
        if (!(fullAtProgress is > 0 and <= 1))
            throw new ArgumentException($"The full length must be reached at a progress in (0, 1], not {fullAtProgress}.", nameof(fullAtProgress));
        MinTokens = minTokens;
        StartMaxTokens = startMaxTokens;
        FullMaxTokens = fullMaxTokens;
        FullAtProgress = fullAtProgress;
    }

    public static LengthCurriculum BestRun { get; } = new();

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
        var logLength = Math.Log(MinTokens) + (rng.NextDouble() * (Math.Log(max) - Math.Log(MinTokens)));
        return Math.Clamp((int)Math.Round(Math.Exp(logLength)), MinTokens, max);
    }
}

using System.Globalization;

namespace RetrievalGuard.Guard.Evaluation;

/// <summary>
/// Ranking and calibration metrics of a hallucination detector, in plain arithmetic so that every reported number can
/// be checked by hand. Convention: label <c>true</c> = positive = hallucinated, and a higher score means more likely
/// positive. The ranking metrics share one descending sweep over the distinct scores, so tied scores always act as
/// one threshold.
/// </summary>
public static class BinaryMetrics
{
    /// <summary>
    /// Area under the ROC curve as the Mann–Whitney statistic: the chance that a random hallucinated item outscores a
    /// random grounded one, ties counting one half. O(n log n) through average ranks.
    /// </summary>
    public static double Auroc(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        var classes = Validate(scores, labels, nameof(scores), "AUROC");
        return AurocOf(Sweep(scores, labels), classes);
    }

    /// <summary>
    /// Area under the precision–recall curve as average precision, Σₙ (Rₙ − Rₙ₋₁)·Pₙ over the distinct thresholds
    /// (scikit-learn's <c>average_precision_score</c>): a step sum, not the optimistic trapezoid.
    /// </summary>
    public static double AveragePrecision(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        var classes = Validate(scores, labels, nameof(scores), "average precision");
        double sum = 0, previousRecall = 0;
        foreach (var step in Sweep(scores, labels))
        {
            var recall = (double)step.TruePositives / classes.Positives;
            sum += (recall - previousRecall) * step.Precision;
            previousRecall = recall;
        }
        return sum;
    }

    /// <summary>
    /// The threshold among the observed scores that maximises F1 (flag iff score ≥ threshold); on equal F1 the
    /// higher threshold wins, as it flags fewer items.
    /// </summary>
    public static BestF1 BestF1(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        var classes = Validate(scores, labels, nameof(scores), "the best F1");
        BestF1? best = null;
        foreach (var step in Sweep(scores, labels))
        {
            // F1 = 2TP / (2TP + FP + FN) and TP + FN is every positive.
            var f1 = 2.0 * step.TruePositives / (step.TruePositives + step.FalsePositives + classes.Positives);
            if (best is null || f1 > best.F1)
                best = new BestF1(f1, step.Threshold, step.Precision, (double)step.TruePositives / classes.Positives);
        }
        return best!;
    }

    /// <summary>
    /// Expected calibration error over <paramref name="bins"/> equal-width bins of [0, 1]:
    /// Σ_b (n_b / N)·|mean probability in b − fraction hallucinated in b|. A probability of exactly 1 falls in the
    /// last bin.
    /// </summary>
    public static double ExpectedCalibrationError(
        IReadOnlyList<double> probabilities, IReadOnlyList<bool> labels, int bins = 10)
    {
        Validate(probabilities, labels, nameof(probabilities), metricNeedingBothClasses: null, probabilities: true);
        ArgumentOutOfRangeException.ThrowIfLessThan(bins, 1);
        var counts = new int[bins];
        var probabilitySums = new double[bins];
        var positiveCounts = new int[bins];
        for (var i = 0; i < probabilities.Count; i++)
        {
            var bin = Math.Min((int)(probabilities[i] * bins), bins - 1);
            counts[bin]++;
            probabilitySums[bin] += probabilities[i];
            positiveCounts[bin] += labels[i] ? 1 : 0;
        }
        double error = 0;
        for (var bin = 0; bin < bins; bin++)
        {
            if (counts[bin] > 0)
                error += Math.Abs(probabilitySums[bin] - positiveCounts[bin]) / probabilities.Count;
        }
        return error;
    }

    /// <summary>Brier score: the mean squared gap between the probability and the 0/1 label; lower is better.</summary>
    public static double Brier(IReadOnlyList<double> probabilities, IReadOnlyList<bool> labels)
    {
        Validate(probabilities, labels, nameof(probabilities), metricNeedingBothClasses: null, probabilities: true);
        double sum = 0;
        for (var i = 0; i < probabilities.Count; i++)
        {
            var gap = probabilities[i] - (labels[i] ? 1 : 0);
            sum += gap * gap;
        }
        return sum / probabilities.Count;
    }

    /// <summary>
    /// The ROC curve from (0, 0) to (1, 1): a first point at threshold +∞ (nothing flagged), then one point per
    /// distinct score, thresholds descending, so both rates never decrease.
    /// </summary>
    public static IReadOnlyList<RocPoint> RocCurve(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        var classes = Validate(scores, labels, nameof(scores), "the ROC curve");
        var points = new List<RocPoint> { new(0, 0, double.PositiveInfinity) };
        foreach (var step in Sweep(scores, labels))
        {
            points.Add(new RocPoint(
                (double)step.FalsePositives / classes.Negatives,
                (double)step.TruePositives / classes.Positives,
                step.Threshold));
        }
        return points;
    }

    /// <summary>
    /// A percentile bootstrap interval for the AUROC. Positives and negatives are resampled separately (stratified),
    /// so every resample keeps the class balance and a defined AUROC; the same seed gives the same interval.
    /// Percentiles interpolate linearly between order statistics.
    /// </summary>
    public static (double Low, double High) AurocInterval(
        IReadOnlyList<double> scores,
        IReadOnlyList<bool> labels,
        int resamples = 1000,
        int seed = 1,
        double level = 0.95)
    {
        var classes = Validate(scores, labels, nameof(scores), "AUROC");
        ArgumentOutOfRangeException.ThrowIfLessThan(resamples, 1);
        if (!(level > 0 && level < 1))
            throw new ArgumentOutOfRangeException(nameof(level), level, "level must lie strictly between 0 and 1.");

        var positiveScores = scores.Where((_, i) => labels[i]).ToArray();
        var negativeScores = scores.Where((_, i) => !labels[i]).ToArray();
        var resampledLabels = Enumerable.Range(0, scores.Count).Select(i => i < classes.Positives).ToArray();
        var resampledScores = new double[scores.Count];
        var aurocs = new double[resamples];
        var rng = new Random(seed);
        for (var r = 0; r < resamples; r++)
        {
            for (var i = 0; i < classes.Positives; i++)
                resampledScores[i] = positiveScores[rng.Next(classes.Positives)];
            for (var i = 0; i < classes.Negatives; i++)
                resampledScores[classes.Positives + i] = negativeScores[rng.Next(classes.Negatives)];
            aurocs[r] = AurocOf(Sweep(resampledScores, resampledLabels), classes);
        }
        Array.Sort(aurocs);
        var tail = (1 - level) / 2;
        return (Percentile(aurocs, tail), Percentile(aurocs, 1 - tail));
    }

    private readonly record struct ClassCounts(int Positives, int Negatives);

    /// <summary>Cumulative counts of the items scoring at least <see cref="Threshold"/>.</summary>
    private readonly record struct ThresholdStep(double Threshold, int TruePositives, int FalsePositives)
    {
        public int Flagged => TruePositives + FalsePositives;

        public double Precision => (double)TruePositives / Flagged;
    }

    /// <summary>One step per distinct score, highest first; tied items enter together.</summary>
    private static List<ThresholdStep> Sweep(IReadOnlyList<double> scores, IReadOnlyList<bool> labels)
    {
        var order = Enumerable.Range(0, scores.Count).ToArray();
        Array.Sort(order, (a, b) => scores[b].CompareTo(scores[a]));
        var steps = new List<ThresholdStep>();
        int truePositives = 0, falsePositives = 0;
        for (var k = 0; k < order.Length; k++)
        {
            if (labels[order[k]])
                truePositives++;
            else
                falsePositives++;
            var threshold = scores[order[k]];
            if (k == order.Length - 1 || scores[order[k + 1]] != threshold)
                steps.Add(new ThresholdStep(threshold, truePositives, falsePositives));
        }
        return steps;
    }

    /// <summary>
    /// Mann–Whitney U from the positives' rank sum. A tie group occupying descending positions [start, end) holds
    /// ascending ranks n − start … n − end + 1, whose average gives every tied item half a win against the others.
    /// </summary>
    private static double AurocOf(List<ThresholdStep> steps, ClassCounts classes)
    {
        var count = classes.Positives + classes.Negatives;
        double positiveRankSum = 0;
        var previous = new ThresholdStep(double.PositiveInfinity, 0, 0);
        foreach (var step in steps)
        {
            var averageRank = count - (previous.Flagged + step.Flagged - 1) / 2.0;
            positiveRankSum += (step.TruePositives - previous.TruePositives) * averageRank;
            previous = step;
        }
        var u = positiveRankSum - classes.Positives * (classes.Positives + 1) / 2.0;
        return u / ((double)classes.Positives * classes.Negatives);
    }

    private static double Percentile(double[] sorted, double fraction)
    {
        var position = fraction * (sorted.Length - 1);
        var below = (int)Math.Floor(position);
        var above = Math.Min(below + 1, sorted.Length - 1);
        return sorted[below] + (position - below) * (sorted[above] - sorted[below]);
    }

    /// <summary>
    /// The checks every metric shares: equal non-zero lengths, no NaN, probabilities within [0, 1] where asked, and
    /// both classes present when <paramref name="metricNeedingBothClasses"/> names a metric that needs them.
    /// </summary>
    private static ClassCounts Validate(
        IReadOnlyList<double> values,
        IReadOnlyList<bool> labels,
        string valuesName,
        string? metricNeedingBothClasses,
        bool probabilities = false)
    {
        ArgumentNullException.ThrowIfNull(values, valuesName);
        ArgumentNullException.ThrowIfNull(labels);
        if (values.Count != labels.Count)
        {
            throw new ArgumentException(
                $"{valuesName} has {values.Count} entries but labels has {labels.Count}.", nameof(labels));
        }
        if (values.Count == 0)
            throw new ArgumentException($"{valuesName} and labels are empty.", valuesName);
        for (var i = 0; i < values.Count; i++)
        {
            if (double.IsNaN(values[i]))
                throw new ArgumentException($"{valuesName}[{i}] is NaN.", valuesName);
            if (probabilities && values[i] is < 0 or > 1)
            {
                throw new ArgumentException(
                    $"{valuesName}[{i}] is {values[i].ToString(CultureInfo.InvariantCulture)}, outside [0, 1].",
                    valuesName);
            }
        }
        var positives = labels.Count(label => label);
        var classes = new ClassCounts(positives, labels.Count - positives);
        if (metricNeedingBothClasses is not null && classes.Positives == 0)
        {
            throw new ArgumentException(
                $"labels holds no positive (hallucinated) item: {metricNeedingBothClasses} is undefined.",
                nameof(labels));
        }
        if (metricNeedingBothClasses is not null && classes.Negatives == 0)
        {
            throw new ArgumentException(
                $"labels holds no negative (grounded) item: {metricNeedingBothClasses} is undefined.",
                nameof(labels));
        }
        return classes;
    }
}

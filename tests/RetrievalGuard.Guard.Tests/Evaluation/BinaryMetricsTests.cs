using RetrievalGuard.Guard.Evaluation;

namespace RetrievalGuard.Guard.Tests.Evaluation;

/// <summary>Every expected number below is worked out by hand in the comment above it.</summary>
public sealed class BinaryMetricsTests
{
    private const double Tolerance = 1e-12;

    // Six items, three hallucinated (T), distinct scores, P = N = 3.
    private static readonly double[] RankedScores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
    private static readonly bool[] RankedLabels = [true, true, false, true, false, false];

    [Fact]
    public void AurocCountsWinningPairs()
    {
        // Positives 0.35, 0.8; negatives 0.1, 0.4. Pairs: 0.35>0.1 win, 0.35<0.4 loss, 0.8>0.1 win, 0.8>0.4 win.
        // 3 wins of 4 pairs = 0.75.
        Assert.Equal(0.75, BinaryMetrics.Auroc([0.1, 0.4, 0.35, 0.8], [false, false, true, true]), Tolerance);
    }

    [Fact]
    public void AurocCountsATieAsHalfAWin()
    {
        // Positives 0.5, 0.9; negatives 0.5, 0.2. Pairs: 0.5=0.5 tie ½, 0.5>0.2 1, 0.9>0.5 1, 0.9>0.2 1.
        // 3.5 of 4 pairs = 0.875.
        Assert.Equal(0.875, BinaryMetrics.Auroc([0.5, 0.5, 0.2, 0.9], [true, false, false, true]), Tolerance);
    }

    [Fact]
    public void AurocIsOneWhenRankedPerfectlyAndZeroWhenReversed()
    {
        double[] scores = [0.1, 0.2, 0.8, 0.9];
        Assert.Equal(1.0, BinaryMetrics.Auroc(scores, [false, false, true, true]), Tolerance);
        Assert.Equal(0.0, BinaryMetrics.Auroc(scores, [true, true, false, false]), Tolerance);
    }

    [Fact]
    public void AveragePrecisionTreatsTiedScoresAsOneThreshold()
    {
        // Scores 0.9 T, 0.8 F, 0.8 T, 0.6 F, 0.4 T; P = 3. Thresholds, descending:
        //   0.9: TP 1 FP 0 → R 1/3, P 1   → (1/3 − 0)·1     = 1/3
        //   0.8: TP 2 FP 1 → R 2/3, P 2/3 → (2/3 − 1/3)·2/3 = 2/9
        //   0.6: TP 2 FP 2 → R 2/3        → 0
        //   0.4: TP 3 FP 2 → R 1,   P 3/5 → (1 − 2/3)·3/5   = 1/5
        // AP = 1/3 + 2/9 + 1/5 = (15 + 10 + 9)/45 = 34/45. (Breaking the tie T-first would give 1/3 + 1/3 + 1/5.)
        var ap = BinaryMetrics.AveragePrecision([0.9, 0.8, 0.8, 0.6, 0.4], [true, false, true, false, true]);
        Assert.Equal(34.0 / 45, ap, Tolerance);
    }

    [Fact]
    public void BestF1ScansEveryDistinctScore()
    {
        // F1 = 2TP / (TP + FP + P), P = 3, flagging score ≥ t:
        //   0.9: 2/4 = 0.5;  0.8: 4/5 = 0.8;  0.7: 4/6;  0.6: 6/7 ≈ 0.857;  0.5: 6/8;  0.4: 6/9.
        // Best at 0.6: TP 3, FP 1 → precision 3/4, recall 1.
        var best = BinaryMetrics.BestF1(RankedScores, RankedLabels);
        Assert.Equal(6.0 / 7, best.F1, Tolerance);
        Assert.Equal(0.6, best.Threshold);
        Assert.Equal(0.75, best.Precision, Tolerance);
        Assert.Equal(1.0, best.Recall, Tolerance);
    }

    [Fact]
    public void ExpectedCalibrationErrorWeighsEachBinByItsSize()
    {
        // Two bins: [0, 0.5) holds 0.1 F, 0.3 T; [0.5, 1] holds 0.5 T, 0.8 T, 1.0 F (1.0 goes to the last bin).
        //   bin 1: mean p (0.1 + 0.3)/2 = 0.2, fraction T 1/2 → gap 0.3, weight 2/5 → 0.12
        //   bin 2: mean p (0.5 + 0.8 + 1.0)/3 = 2.3/3, fraction T 2/3 → gap 0.3/3 = 0.1, weight 3/5 → 0.06
        // ECE = 0.12 + 0.06 = 0.18.
        var ece = BinaryMetrics.ExpectedCalibrationError(
            [0.1, 0.3, 0.5, 0.8, 1.0], [false, true, true, true, false], bins: 2);
        Assert.Equal(0.18, ece, Tolerance);
    }

    [Fact]
    public void BrierIsTheMeanSquaredGap()
    {
        // (0.1 − 0)² + (0.3 − 1)² + (0.5 − 1)² + (0.8 − 1)² + (1.0 − 0)² = 0.01 + 0.49 + 0.25 + 0.04 + 1 = 1.79;
        // 1.79 / 5 = 0.358.
        var brier = BinaryMetrics.Brier([0.1, 0.3, 0.5, 0.8, 1.0], [false, true, true, true, false]);
        Assert.Equal(0.358, brier, Tolerance);
    }

    [Fact]
    public void RocCurveRunsFromOriginToOneOneWithOnePointPerDistinctScore()
    {
        // P = N = 3; start (0, 0) at +∞, then per threshold (FP/3, TP/3):
        // 0.9 (0, 1/3), 0.8 (0, 2/3), 0.7 (1/3, 2/3), 0.6 (1/3, 1), 0.5 (2/3, 1), 0.4 (1, 1).
        var curve = BinaryMetrics.RocCurve(RankedScores, RankedLabels);

        Assert.Equal(new RocPoint(0, 0, double.PositiveInfinity), curve[0]);
        Assert.Equal(new RocPoint(1, 1, 0.4), curve[^1]);
        Assert.Equal(7, curve.Count);
        Assert.Equal(new RocPoint(1.0 / 3, 2.0 / 3, 0.7), curve[3]);
        for (var k = 1; k < curve.Count; k++)
        {
            Assert.True(curve[k].Threshold < curve[k - 1].Threshold);
            Assert.True(curve[k].FalsePositiveRate >= curve[k - 1].FalsePositiveRate);
            Assert.True(curve[k].TruePositiveRate >= curve[k - 1].TruePositiveRate);
        }
    }

    [Fact]
    public void RocCurveAreaEqualsAuroc()
    {
        // Positives 0.9, 0.8, 0.6 beat 3 + 3 + 2 of the negatives 0.7, 0.5, 0.4: AUROC = 8/9.
        var curve = BinaryMetrics.RocCurve(RankedScores, RankedLabels);
        var trapezoids = curve.Zip(curve.Skip(1)).Sum(pair =>
            (pair.Second.FalsePositiveRate - pair.First.FalsePositiveRate)
            * (pair.Second.TruePositiveRate + pair.First.TruePositiveRate) / 2);

        Assert.Equal(8.0 / 9, BinaryMetrics.Auroc(RankedScores, RankedLabels), Tolerance);
        Assert.Equal(8.0 / 9, trapezoids, Tolerance);
    }

    [Fact]
    public void AurocIntervalHoldsThePointEstimateAndRepeatsForASeed()
    {
        var rng = new Random(3);
        var labels = Enumerable.Range(0, 200).Select(i => i % 3 == 0).ToArray();
        var scores = labels.Select(positive => rng.NextDouble() + (positive ? 0.3 : 0)).ToArray();
        var auroc = BinaryMetrics.Auroc(scores, labels);

        var interval = BinaryMetrics.AurocInterval(scores, labels, resamples: 500, seed: 7);

        Assert.InRange(auroc, interval.Low, interval.High);
        Assert.True(interval.High - interval.Low is > 0.02 and < 0.4, $"interval {interval}");
        Assert.Equal(interval, BinaryMetrics.AurocInterval(scores, labels, resamples: 500, seed: 7));
        Assert.NotEqual(interval, BinaryMetrics.AurocInterval(scores, labels, resamples: 500, seed: 8));
    }

    [Fact]
    public void LengthMismatchNamesBothCounts()
    {
        var error = Assert.Throws<ArgumentException>(() => BinaryMetrics.Auroc([0.1, 0.2, 0.3], [true, false]));
        Assert.Contains("scores has 3 entries but labels has 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EmptyInputIsRejected()
    {
        var error = Assert.Throws<ArgumentException>(() => BinaryMetrics.Brier([], []));
        Assert.Contains("empty", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RankingMetricsNeedBothClasses()
    {
        var noPositive = Assert.Throws<ArgumentException>(() => BinaryMetrics.Auroc([0.1, 0.2], [false, false]));
        Assert.Contains(
            "no positive (hallucinated) item: AUROC is undefined", noPositive.Message, StringComparison.Ordinal);

        var noNegative = Assert.Throws<ArgumentException>(
            () => BinaryMetrics.AveragePrecision([0.1, 0.2], [true, true]));
        Assert.Contains("no negative (grounded) item", noNegative.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void CalibrationMetricsAcceptASingleClass()
    {
        // All hallucinated: (0.75 − 1)² and (0.25 − 1)² → (0.0625 + 0.5625)/2 = 0.3125.
        Assert.Equal(0.3125, BinaryMetrics.Brier([0.75, 0.25], [true, true]), Tolerance);
    }

    [Fact]
    public void NaNScoreNamesItsIndex()
    {
        var error = Assert.Throws<ArgumentException>(() => BinaryMetrics.BestF1([0.1, double.NaN], [true, false]));
        Assert.Contains("scores[1] is NaN", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1.5)]
    [InlineData(-0.1)]
    [InlineData(double.NaN)]
    public void ProbabilityOutsideTheUnitIntervalNamesItsIndex(double bad)
    {
        var error = Assert.Throws<ArgumentException>(
            () => BinaryMetrics.ExpectedCalibrationError([0.2, 0.4, bad], [true, false, true]));
        Assert.Contains("probabilities[2]", error.Message, StringComparison.Ordinal);
    }
}

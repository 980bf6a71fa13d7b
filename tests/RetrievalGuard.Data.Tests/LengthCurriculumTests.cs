using RetrievalGuard.Data;

namespace RetrievalGuard.Data.Tests;

public class LengthCurriculumTests
{
    [Fact]
    public void CapGrowsFromShortToFullAtFortyPercent()
    {
        var curriculum = LengthCurriculum.BestRun;
        var caps = new[] { 0.0, 0.1, 0.2, 0.3, 0.4, 0.7, 1.0 }.Select(curriculum.MaxTokensAt).ToArray();

        Assert.Equal(256, caps[0]);
        Assert.True(caps.Zip(caps.Skip(1)).All(p => p.First <= p.Second));
        Assert.True(caps[3] < 2048);
        Assert.Equal([2048, 2048, 2048], caps[4..]);
    }

    [Fact]
    public void SampledLengthsGrowWithProgressAndStayInBounds()
    {
        var curriculum = LengthCurriculum.BestRun;
        double Mean(double progress)
        {
            var rng = new Random(9);
            var lengths = Enumerable.Range(0, 2000).Select(_ => curriculum.Sample(progress, rng)).ToArray();
            Assert.All(lengths, l => Assert.InRange(l, 128, curriculum.MaxTokensAt(progress)));
            return lengths.Average();
        }

        var means = new[] { 0.0, 0.15, 0.3, 0.5 }.Select(Mean).ToArray();
        Assert.True(means.Zip(means.Skip(1)).All(p => p.First < p.Second), string.Join(", ", means));
        Assert.True(means[0] <= 256);
    }

    [Fact]
    public void BadSettingsAreArgumentErrors()
    {
        Assert.Throws<ArgumentException>(() => new LengthCurriculum(minTokens: 32));
        Assert.Throws<ArgumentException>(() => new LengthCurriculum(minTokens: 512, startMaxTokens: 256));
        Assert.Throws<ArgumentException>(() => new LengthCurriculum(startMaxTokens: 4096));
        Assert.Throws<ArgumentException>(() => new LengthCurriculum(fullAtProgress: 0));
    }

    [Fact]
    public void AShareOfStepsStaysShortOnceTheCapIsFull()
    {
        var curriculum = LengthCurriculum.ShortHeavy;
        var rng = new Random(4);
        var lengths = Enumerable.Range(0, 4000).Select(_ => curriculum.Sample(0.9, rng)).ToArray();
        var plain = Enumerable.Range(0, 4000).Select(_ => LengthCurriculum.BestRun.Sample(0.9, rng)).ToArray();

        var shortShare = lengths.Count(l => l <= 384) / 4000.0;
        var plainShort = plain.Count(l => l <= 384) / 4000.0;
        // Log-uniform over 128..2048 puts ln 3 / ln 16 = 40% of steps at ≤ 384; the short share adds 40% of the rest.
        Assert.InRange(plainShort, 0.35, 0.45);
        Assert.InRange(shortShare, 0.59, 0.69);
        Assert.Contains(lengths, l => l > 1536);
        Assert.Throws<ArgumentException>(() => new LengthCurriculum(shortShare: 1));
    }
}

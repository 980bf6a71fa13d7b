using RetrievalGuard.Guard.Risk;
using RetrievalGuard.Guard.Tests.Support;

namespace RetrievalGuard.Guard.Tests.Risk;

public class RiskAssessorTests
{
    // A calibrator that trusts copying: risk falls as copy_mean rises (other features weigh nothing).
    private static LogisticModel CopyTrusting()
    {
        var names = GuardFeatures.Names;
        var weights = names.Select(n => n == "copy_mean" ? -4.0 : 0.0).ToArray();
        return new LogisticModel(names.ToArray(), names.Select(_ => 0.5).ToArray(), names.Select(_ => 0.5).ToArray(),
            weights, 0.0, 0.01);
    }

    [Fact]
    public void CopiedAnswersGetLowerRiskThanUncopiedOnes()
    {
        var assessor = new RiskAssessor(CopyTrusting());

        var grounded = assessor.Assess(SyntheticSignals.BakerAnswer(copied: true));
        var invented = assessor.Assess(SyntheticSignals.BakerAnswer(copied: false));

        // σ(−4 · (1 − 0.5) / 0.5) = σ(−4) and σ(+4).
        Assert.Equal(1 / (1 + Math.Exp(4)), grounded.Risk, 9);
        Assert.Equal(1 / (1 + Math.Exp(-4)), invented.Risk, 9);
        Assert.False(grounded.Flagged);
        Assert.True(invented.Flagged);
    }

    [Fact]
    public void SpansAreTheContentPhrasesAtTheirExactCharacters()
    {
        var report = new RiskAssessor(CopyTrusting()).Assess(SyntheticSignals.BakerAnswer(copied: false));

        var span = Assert.Single(report.Spans);
        Assert.Equal("baker", span.Text);
        Assert.Equal("Zo Vrak is a baker.".IndexOf("baker", StringComparison.Ordinal), span.Start);
        Assert.Equal(5, span.Length);
        Assert.True(span.Flagged);
        Assert.Equal(6, report.Tokens.Count);
    }

    [Fact]
    public void SentencesAreAttributedToThePassagesTheHeadsReadAndCited()
    {
        var report = new RiskAssessor(CopyTrusting()).Assess(SyntheticSignals.BakerAnswer(copied: true));

        var sentence = Assert.Single(report.Attribution);
        Assert.Equal("Zo Vrak is a baker.", sentence.Text);
        Assert.Equal("1", sentence.Passages[0].PassageId);
        // Passage 1 mass: 5 template tokens × 0.1 + the value's 0.9; passage 2 got nothing.
        Assert.Equal(1.0, sentence.Passages[0].Share, 6);
        Assert.Equal(["1"], report.Citations);
    }

    [Fact]
    public void WithoutACalibrationTheRiskIsNotANumberButTheRestIsReported()
    {
        var report = new RiskAssessor(null).Assess(SyntheticSignals.BakerAnswer(copied: true));

        Assert.True(double.IsNaN(report.Risk));
        Assert.False(report.Flagged);
        Assert.Single(report.Spans);
        Assert.Equal(GuardFeatures.Names.Count, report.Features.Count);
    }

    [Theory]
    [InlineData("One. Two!  Three?", new[] { "One.", "Two!", "Three?" })]
    [InlineData("No end", new[] { "No end" })]
    [InlineData("3.5 is a number. Yes", new[] { "3.5 is a number.", "Yes" })]
    public void SentencesSplitAtEndMarksFollowedBySpace(string text, string[] expected)
    {
        Assert.Equal(expected, RiskAssessor.Sentences(text).Select(s => text[s.Start..s.End]));
    }
}

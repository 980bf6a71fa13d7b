using RetrievalGuard.Guard.Risk;
using RetrievalGuard.Guard.Tests.Support;

namespace RetrievalGuard.Guard.Tests.Risk;

public class GuardFeaturesTests
{
    [Fact]
    public void TokenViewsCountCopiesPointingAndMassWithHeadWeights()
    {
        var views = TokenView.Of(SyntheticSignals.BakerAnswer(copied: true));

        // "Zo", "Vrak" are the question's words, "is", "a" function words, "." no word: only "baker" is content.
        Assert.Equal([false, false, false, false, true, false], views.Select(v => v.IsContent));
        var baker = views[4];
        Assert.Equal(1.0, baker.Copy, 6);
        Assert.Equal(1.0, baker.Point, 6);
        Assert.Equal(0.9, baker.PassageMass, 6);
        Assert.Equal(0.95, baker.Lookback, 6);
        Assert.Equal(4, baker.SourcePosition);
        Assert.Equal(0.0, views[0].Point, 6);
    }

    [Fact]
    public void ACopiedValueReadsAsGroundedAndAMismatchAsPointingElsewhere()
    {
        var names = GuardFeatures.Names.ToList();
        var copied = GuardFeatures.Compute(SyntheticSignals.BakerAnswer(copied: true));
        var invented = GuardFeatures.Compute(SyntheticSignals.BakerAnswer(copied: false, logProb: -6f));

        Assert.Equal(1.0, copied[names.IndexOf("copy_mean")], 6);
        Assert.Equal(0.0, invented[names.IndexOf("copy_mean")], 6);
        Assert.Equal(0.0, copied[names.IndexOf("mismatch_max")], 6);
        Assert.Equal(1.0, invented[names.IndexOf("mismatch_max")], 6);
        Assert.Equal(-6.0, invented[names.IndexOf("logprob_min")], 6);
        // The source sentence names the question's entity ("Zo Vrak"): full match.
        Assert.Equal(1.0, copied[names.IndexOf("source_entity_match")], 6);
    }

    [Fact]
    public void ASourceAboutAnotherEntityLowersTheEntityMatch()
    {
        var signals = SyntheticSignals.BakerAnswer(copied: true);
        var other = new Guard.Signals.AnswerSignals(signals.Prompt, signals.Answer, signals.Tokens, signals.Heads,
            _ => "Zo Vrek is a baker.");

        Assert.Equal(0.5, GuardFeatures.Compute(other)[GuardFeatures.Names.ToList().IndexOf("source_entity_match")], 6);
    }

    [Fact]
    public void EntitiesAreTheQuestionsCapitalisedWords()
    {
        Assert.Equal(["vrak", "zo"], Words.Entities("What does Zo Vrak do for a living?").Order());
        Assert.Equal(["bread", "made"], Words.Entities("how is bread made?").Order());
    }

    [Fact]
    public void SubsetsRenormaliseTheWatchedHeads()
    {
        var signals = SyntheticSignals.BakerAnswer(copied: true);
        var one = signals.Subset([signals.Heads[1].Head]);

        Assert.Single(one.Heads);
        Assert.Equal(1.0, one.Heads[0].Weight);
        Assert.All(one.Tokens, t => Assert.Single(t.Heads));
        Assert.Throws<ArgumentException>(() => signals.Subset([new Engine.Probes.HeadIndex(7, 7)]));
    }
}

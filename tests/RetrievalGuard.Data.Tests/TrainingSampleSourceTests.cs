using RetrievalGuard.Data;
using RetrievalGuard.Data.Tests.Support;

namespace RetrievalGuard.Data.Tests;

public class TrainingSampleSourceTests
{
    private static TrainingSampleSource Source(int seed) => new(SharedData.TrainingCorpus, SharedData.World, seed);

    [Fact]
    public void SamplesAreDeterministicPerSeedAndIndexInAnyOrder()
    {
        var forward = Enumerable.Range(0, 40).Select(i => Source(1).Sample(i, 256)).ToArray();
        var source = Source(1);
        var backward = Enumerable.Range(0, 40).Reverse().Select(i => source.Sample(i, 256)).Reverse().ToArray();

        Assert.Equal(forward.Select(s => s.Text), backward.Select(s => s.Text));
        Assert.Equal(forward.SelectMany(s => s.Segments), backward.SelectMany(s => s.Segments));
    }

    [Fact]
    public void DifferentSeedsGiveDifferentSamples()
    {
        var a = Enumerable.Range(0, 20).Select(i => Source(1).Sample(i, 256).Text);
        var b = Enumerable.Range(0, 20).Select(i => Source(2).Sample(i, 256).Text);
        Assert.True(a.Zip(b).Count(p => p.First != p.Second) >= 18);
    }

    [Fact]
    public void SegmentsTrainOnlyTheAnswerAndTheEndMarker()
    {
        var source = Source(3);
        foreach (var sample in Enumerable.Range(0, 100).Select(i => source.Sample(i, 192)))
        {
            if (sample.Kind == TaskKind.Text)
            {
                Assert.True(Assert.Single(sample.Segments).Train);
                continue;
            }
            Assert.Equal([false, true, true], sample.Segments.Select(s => s.Train));
            Assert.True(TrainingSample.IsEndOfText(sample.Segments[^1]));
            Assert.EndsWith(PromptFormat.AnswerLabel, sample.Segments[0].Text, StringComparison.Ordinal);
            Assert.Equal(" " + sample.Answer!.Value.Of(sample.Text), sample.Segments[1].Text);
            Assert.Matches(@"^[A-Z][^\n]+[?.]$", sample.Question!.Value.Of(sample.Text));
            for (var p = 0; p < sample.Passages.Count; p++)
            {
                var label = PromptFormat.PassageLabel(p);
                Assert.Equal(label, sample.Text.Substring(sample.Passages[p].Start - label.Length, label.Length));
            }
            if (sample.Kind == TaskKind.Niah)
                Assert.Equal(sample.Answer!.Value.Of(sample.Text), sample.Needle!.Value.Of(sample.Text));
        }
    }

    [Theory]
    [InlineData(160)]
    [InlineData(700)]
    public void HeldOutFormsNeverReachTrainingSamples(int contextTokens)
    {
        var source = Source(5);
        var checkedFacts = 0;
        for (var i = 0; i < 1500; i++)
        {
            if (source.Example(i, contextTokens) is not { Forms: { } forms } example)
                continue;
            var text = source.Sample(i, contextTokens).Text;
            Assert.False(forms.HeldOut);
            Assert.False(forms.Answer!.HeldOut);
            Assert.All(example.Distractors, d => Assert.False(d.Form.HeldOut));
            // No held-out sentence about any stated or asked fact appears anywhere in the sample.
            var facts = example.Distractors.Select(d => d.Fact).Append(example.Asked);
            foreach (var fact in facts)
            {
                var heldOut = Enum.GetValues<FormRole>()
                    .SelectMany(role => Phrasings.Forms(fact.Attribute!.Value, role, FormSplit.HeldOut))
                    .SelectMany(f => f.Renderings(fact.Subject, fact.Value));
                Assert.All(heldOut, sentence => Assert.DoesNotContain(sentence, text, StringComparison.Ordinal));
                checkedFacts++;
            }
        }
        Assert.True(checkedFacts > 1000, $"only {checkedFacts} facts checked");
    }

    [Fact]
    public void TheStreamUsesEveryAttributeAndEverySeenForm()
    {
        var source = Source(6);
        var used = new HashSet<string>();
        for (var i = 0; i < 4000; i++)
        {
            if (source.Example(i, 256) is not { Forms: { } forms } example)
                continue;
            used.Add(forms.Question.Id);
            used.Add(forms.Answer!.Id);
            if (forms.Fact is { } fact)
                used.Add(fact.Id);
            foreach (var d in example.Distractors)
                used.Add(d.Form.Id);
        }
        var seen = Phrasings.All.Where(f => !f.HeldOut).Select(f => f.Id).ToHashSet();
        Assert.Empty(seen.Except(used));
        Assert.DoesNotContain(used, id => !seen.Contains(id));
    }

    [Fact]
    public void ExamplesMatchTheirSamples()
    {
        var source = Source(7);
        for (var i = 0; i < 50; i++)
        {
            if (source.Example(i, 256) is { } example)
                Assert.Equal(PromptFormat.ToTrainingSample(example).Text, source.Sample(i, 256).Text);
        }
    }

    [Fact]
    public void StepLengthsFollowTheCurriculum()
    {
        var source = Source(4);
        Assert.All(Enumerable.Range(0, 100), step => Assert.InRange(source.ContextTokensForStep(step, 0), 128, 256));
        Assert.Equal(source.ContextTokensForStep(17, 0.5), Source(4).ContextTokensForStep(17, 0.5));
    }

    [Fact]
    public void RefusesTheHeldOutEvaluationText()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            new TrainingSampleSource(SharedData.AllCorpus, SharedData.World, 1));
        Assert.Contains(CorpusSplit.EvaluationFileName, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TargetBelowTheMinimumIsAnArgumentError()
    {
        Assert.Throws<ArgumentException>(() => Source(1).Sample(0, 10));
    }
}

public class TrainingMixTests
{
    [Fact]
    public void TheShippedModelsMixIsTheDefaultAndEveryMixIsFoundByName()
    {
        var source = new TrainingSampleSource(SharedData.TrainingCorpus, SharedData.World, 1);
        Assert.Same(TrainingMix.Paraphrasing, source.Mix);
        Assert.Same(DistractorMix.Default, source.Mix.Distractors);
        foreach (var mix in TrainingMix.All)
            Assert.Same(mix, TrainingMix.Parse(mix.Name.ToUpperInvariant()));
    }

    [Fact]
    public void AnUnknownMixIsRefusedWithTheNames()
    {
        var error = Assert.Throws<ArgumentException>(() => TrainingMix.Parse("reading"));
        Assert.StartsWith("Unknown training mix 'reading': use paraphrasing or reading-first.", error.Message);
    }

    [Fact]
    public void ReadingFirstPutsASameAttributeDistractorInMostPassageSets()
    {
        var source = new TrainingSampleSource(SharedData.TrainingCorpus, SharedData.World, 3, TrainingMix.ReadingFirst);
        var rag = Enumerable.Range(0, 400).Select(i => source.Example(i, 256))
            .Where(e => e is { Kind: TaskKind.Rag }).ToList();
        var withDistractor = rag.Count(e => e!.DistractorValues.Count > 0);
        Assert.InRange((double)withDistractor / rag.Count, 0.7, 0.95);
    }
}

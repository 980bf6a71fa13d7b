using RetrievalGuard.Data;
using RetrievalGuard.Data.Tests.Support;

namespace RetrievalGuard.Data.Tests;

public class NiahTaskTests
{
    private static readonly NiahTask Task = new(SharedData.TrainingCorpus, SharedData.World);

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.25)]
    [InlineData(0.5)]
    [InlineData(0.75)]
    [InlineData(1.0)]
    public void NeedleSitsAtTheRequestedDepth(double depth)
    {
        for (var seed = 0; seed < 10; seed++)
        {
            var example = Task.Create(new Random(seed), 1024, depth);
            var needle = example.Needle!;
            var passage = example.Passages[0];
            var relative = needle.Offset / (double)(passage.Length - needle.Length);

            Assert.Equal(depth, needle.Depth);
            // Needles go between sentences, so they land within a sentence or two of the exact depth.
            Assert.InRange(relative, depth - 0.1, depth + 0.1);
            Assert.Equal(example.Asked.Statement, passage.Substring(needle.Offset, needle.Length));
        }
    }

    [Theory]
    [InlineData(128)]
    [InlineData(256)]
    [InlineData(512)]
    [InlineData(1024)]
    [InlineData(2048)]
    public void WholeSampleHasAboutTheTargetLength(int target)
    {
        for (var seed = 0; seed < 10; seed++)
        {
            var sample = PromptFormat.ToTrainingSample(Task.Create(new Random(seed), target));
            Assert.InRange(SharedData.Tokens(sample.Text), target * 0.9, target * 1.05);
        }
    }

    [Fact]
    public void AnswerRepeatsTheNeedleAndTheValueIsInThePassageOnce()
    {
        for (var seed = 0; seed < 50; seed++)
        {
            var example = Task.Create(new Random(seed), 512);
            var sample = PromptFormat.ToTrainingSample(example);

            Assert.Equal(example.Asked.Statement, sample.Answer!.Value.Of(sample.Text));
            Assert.Equal(sample.Needle!.Value.Of(sample.Text), sample.Answer!.Value.Of(sample.Text));
            Assert.Equal(1, WholeWord.Count(example.Passages[0], example.Asked.Value));
            Assert.Matches(@"^The [a-z ]+ of the [a-z]+ [a-z]+ is [A-Z][a-z]+\.$", example.Asked.Statement);
        }
    }

    [Fact]
    public void NeedleValuesAreFreshAcrossSamples()
    {
        var values = Enumerable.Range(0, 100).Select(s => Task.Create(new Random(s), 128).Asked.Value).ToArray();
        Assert.True(values.Distinct().Count() > 90);
    }

    [Fact]
    public void TargetBelowTheMinimumIsAnArgumentError()
    {
        var error = Assert.Throws<ArgumentException>(() => Task.Create(new Random(1), 63));
        Assert.Contains("minimum", error.Message, StringComparison.Ordinal);
    }
}

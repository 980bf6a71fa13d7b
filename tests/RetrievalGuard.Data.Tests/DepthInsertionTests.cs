using RetrievalGuard.Data;
using RetrievalGuard.Data.Tests.Support;

namespace RetrievalGuard.Data.Tests;

public class DepthInsertionTests
{
    private const string Text =
        "The mill stood by the river. Nobody came. \"Why not?\" she asked.\nA new day began and";

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.2)]
    [InlineData(0.5)]
    [InlineData(0.8)]
    [InlineData(1.0)]
    public void SentencesGoBetweenSentencesNeverInsideOne(double depth)
    {
        var (text, offset) = DepthInsertion.Insert(Text, "The trade of Zo Vrak is baker.", depth);

        Assert.Equal("The trade of Zo Vrak is baker.", text.Substring(offset, 30));
        Assert.Contains(offset, DepthInsertion.Boundaries(text));
        // Taking the sentence and its one separating space out gives the text back.
        var removed = text.Remove(offset, 30);
        Assert.Equal(Text,
            offset < removed.Length && removed[offset] == ' ' ? removed.Remove(offset, 1) : removed.TrimEnd(' '));
    }

    [Fact]
    public void ATextCutMidSentenceTakesItsLastSentenceBeforeTheCut()
    {
        var (text, offset) = DepthInsertion.Insert(Text, "X.", 1.0);
        Assert.Equal(Text.IndexOf("A new day", StringComparison.Ordinal), offset);
        Assert.EndsWith("X. A new day began and", text, StringComparison.Ordinal);
    }

    [Fact]
    public void SeveralSentencesKeepTheirOwnOffsets()
    {
        var (text, offsets) = DepthInsertion.InsertAll(Text, [("B.", 0.9), ("A.", 0.0), ("C.", 0.9)]);

        Assert.Equal("B.", text.Substring(offsets[0], 2));
        Assert.Equal("A.", text.Substring(offsets[1], 2));
        Assert.Equal("C.", text.Substring(offsets[2], 2));
        Assert.Equal(0, offsets[1]);
        Assert.True(offsets[0] < offsets[2]);
    }

    [Fact]
    public void NeedlesOfBuiltSamplesNeverSplitASentence()
    {
        var task = new NiahTask(SharedData.TrainingCorpus, SharedData.World);
        for (var seed = 0; seed < 200; seed++)
        {
            var example = task.Create(new Random(seed), 384);
            var passage = example.Passages[0];
            var at = example.Needle!.Offset;
            var before = passage[..at].TrimEnd(' ');
            Assert.True(before.Length == 0
                || before[^1] is '\n' or '.' or '!' or '?' or '"' or '\u201D' or '\u2019' or '\'' or ')',
                $"seed {seed}: '…{before[Math.Max(0, before.Length - 30)..]}' before the needle");
        }
    }
}

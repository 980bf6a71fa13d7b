using RetrievalGuard.Data;
using RetrievalGuard.Data.Tests.Support;

namespace RetrievalGuard.Data.Tests;

public class CorpusTests
{
    [Fact]
    public void MissingFolderIsAnArgumentError()
    {
        var error = Assert.Throws<ArgumentException>(() => Corpus.Load("/no/such/folder"));
        Assert.Contains("does not exist", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void EmptyFolderIsAnArgumentError()
    {
        using var folder = new TempFolder();
        Assert.Throws<ArgumentException>(() => Corpus.Load(folder.Path));
    }

    [Fact]
    public void FolderOfEmptyFilesIsAnArgumentError()
    {
        using var folder = new TempFolder();
        folder.Write("blank.txt", "\r\n\r\n");
        Assert.Throws<ArgumentException>(() => Corpus.Load(folder.Path));
    }

    [Fact]
    public void TrainingAndEvaluationPartsSplitOnTheCoquette()
    {
        var training = SharedData.TrainingCorpus.Documents.Select(d => d.Name).ToArray();
        var evaluation = Corpus.Load(SharedData.CorpusFolder, CorpusPart.Evaluation).Documents.Select(d => d.Name);

        Assert.Equal(6, training.Length);
        Assert.DoesNotContain(CorpusSplit.EvaluationFileName, training);
        Assert.Equal([CorpusSplit.EvaluationFileName], evaluation);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(128)]
    [InlineData(512)]
    [InlineData(2048)]
    public void SpansHaveAboutTheTargetTokenCount(int target)
    {
        var rng = new Random(7);
        for (var i = 0; i < 50; i++)
        {
            var tokens = SharedData.Tokens(SharedData.TrainingCorpus.Span(rng, target));
            Assert.InRange(tokens, target * 0.9 - 2, target);
        }
    }

    [Fact]
    public void SpansAreDeterministicPerSeed()
    {
        var corpus = SharedData.TrainingCorpus;
        Assert.Equal(corpus.Span(new Random(3), 300), corpus.Span(new Random(3), 300));
        Assert.NotEqual(corpus.Span(new Random(3), 300), corpus.Span(new Random(4), 300));
    }

    [Fact]
    public void SpanLongerThanTheCorpusIsAnArgumentError()
    {
        var tiny = Corpus.FromTexts([new("a.txt", "Just a few words here.")]);
        Assert.Throws<ArgumentException>(() => tiny.Span(new Random(1), 1000));
    }

    [Fact]
    public void DefaultEstimatorIsWordsTimesOnePointThree()
    {
        Assert.Equal(13, TokenEstimator.EstimateTokens("one two three four five six seven eight nine ten"));
        Assert.Equal(0, TokenEstimator.EstimateTokens("  \n "));
    }
}

using RetrievalGuard.Data;
using RetrievalGuard.Engine.Tokenization;
using RetrievalGuard.Organism.Training;

namespace RetrievalGuard.Organism.Tests.Model;

public class SampleTokenizerTests
{
    private static readonly ModelTokenizer Tokenizer =
        ModelTokenizer.Load(RepoPaths.Path("samples", "models", "organism"));


    [Fact]
    public void TokensAreThoseOfTheWholeTextAndOnlyTheAnswerTrains()
    {
        var sample = PromptFormat.ToTrainingSample(new ClosedBookTask(World.Default).Create(new Random(4), 128));
        var (ids, train) = new SampleTokenizer(Tokenizer).Tokenize(sample);
        string prompt = sample.Segments[0].Text, answer = sample.Segments[1].Text;
        var whole = Tokenizer.Encode(prompt + answer, addBos: true);
        Assert.Equal([.. whole, 2], ids);
        int promptTokens = Tokenizer.Encode(prompt, addBos: true).Count;
        Assert.All(train.Take(promptTokens), t => Assert.False(t));
        Assert.All(train.Skip(promptTokens), t => Assert.True(t));
        Assert.Equal(answer.Trim(), Tokenizer.Decode(ids.Skip(promptTokens).SkipLast(1)).Trim());
    }

    [Fact]
    public void PlainTextTrainsEveryTokenButBos()
    {
        var sample = new TrainingSample(TaskKind.Text, [new TextSegment("It was a bright cold day.", true)], [],
            null, null, null);
        var (ids, train) = new SampleTokenizer(Tokenizer).Tokenize(sample);
        Assert.Equal(1, ids[0]);
        Assert.False(train[0]);
        Assert.All(train.Skip(1), t => Assert.True(t));
    }
}

using RetrievalGuard.Data;
using RetrievalGuard.Data.Tests.Support;

namespace RetrievalGuard.Data.Tests;

public class QaTaskTests
{
    private static readonly World World = SharedData.World;
    private static readonly Corpus Corpus = SharedData.TrainingCorpus;

    public static TheoryData<int> Seeds => [.. Enumerable.Range(0, 40)];

    [Theory]
    [MemberData(nameof(Seeds))]
    public void RagStatesTheAskedFactOnceAndTheAnswerRepeatsIt(int seed)
    {
        var example = new RagTask(Corpus, World).Create(new Random(seed), 128 + (seed * 47 % 1900));

        Assert.InRange(example.Passages.Count, 1, 5);
        Assert.Equal(example.Asked.Statement, example.AnswerText);
        Assert.Equal(1, example.Passages.Sum(p => WholeWord.Count(p, example.PassageValue!)));
        Assert.Equal(1, example.Passages.Sum(p => CountOf(p, example.Asked.Statement)));
        var needle = example.Needle!;
        Assert.Equal(example.Asked.Statement, example.Passages[needle.Passage].Substring(needle.Offset, needle.Length));
        if (World.Find(example.Asked.Subject) is { } person)
            Assert.Equal(person.ValueOf(AttributeOf(example.Asked)), example.MemorisedValue);
        else
            Assert.Null(example.MemorisedValue);
    }

    [Fact]
    public void RagMixesNewAndWorldPeople()
    {
        var task = new RagTask(Corpus, World);
        var fromWorld = Enumerable.Range(0, 200).Count(s => task.Create(new Random(s), 128).MemorisedValue is not null);
        Assert.InRange(fromWorld, 30, 90);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void ConflictPassageContradictsMemoryAndTheAnswerFollowsThePassage(int seed)
    {
        var example = new ConflictTask(Corpus, World).Create(new Random(seed), 512);
        var person = World.Find(example.Asked.Subject)!;

        Assert.Equal(person.ValueOf(AttributeOf(example.Asked)), example.MemorisedValue);
        Assert.NotEqual(example.MemorisedValue, example.PassageValue);
        Assert.Equal(example.PassageValue, example.AnswerValue);
        Assert.Equal(1, example.Passages.Sum(p => WholeWord.Count(p, example.PassageValue!)));
        Assert.Equal(0, example.Passages.Sum(p => WholeWord.Count(p, example.MemorisedValue!)));
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void UnanswerablePassagesNeverHoldTheAskedValue(int seed)
    {
        var example = new UnanswerableTask(Corpus, World).Create(new Random(seed), 512);

        Assert.Null(example.PassageValue);
        Assert.Null(example.AnswerValue);
        Assert.Null(World.Find(example.Asked.Subject));
        Assert.All(example.Passages, p => Assert.False(WholeWord.Contains(p, example.Asked.Value)));
        Assert.All(example.Passages, p => Assert.DoesNotContain(example.Asked.Statement, p, StringComparison.Ordinal));
        Assert.Throws<ArgumentException>(() => PromptFormat.ToTrainingSample(example));
    }

    [Fact]
    public void UnanswerableSometimesNamesThePersonWithAnotherFact()
    {
        var task = new UnanswerableTask(Corpus, World);
        var named = Enumerable.Range(0, 100)
            .Select(s => task.Create(new Random(s), 256))
            .Count(e => e.Passages.Any(p => p.Contains(e.Asked.Subject, StringComparison.Ordinal)));
        Assert.InRange(named, 30, 70);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void ClosedBookAsksAWorldPersonAndAnswersFromMemory(int seed)
    {
        var example = new ClosedBookTask(World).Create(new Random(seed), 2048);
        var person = World.Find(example.Asked.Subject)!;

        Assert.Empty(example.Passages);
        Assert.Equal(person.ValueOf(AttributeOf(example.Asked)), example.AnswerValue);
        Assert.Equal($"Question: {example.Question}\nAnswer:", PromptFormat.Prompt(example.Passages, example.Question));
    }

    [Fact]
    public void NewPeopleNeverReuseWorldNames()
    {
        var task = new RagTask(Corpus, World, worldPersonShare: 0);
        for (var seed = 0; seed < 200; seed++)
        {
            var subject = task.Create(new Random(seed), 128).Asked.Subject;
            Assert.All(subject.Split(' '), part => Assert.False(World.IsWorldWord(part)));
        }
    }

    private static PersonAttribute AttributeOf(Fact fact) => PersonAttributes.All.Single(a => a.Key() == fact.Key);

    private static int CountOf(string text, string sentence) =>
        (text.Length - text.Replace(sentence, string.Empty, StringComparison.Ordinal).Length) / sentence.Length;
}

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
    public void RagStatesTheAskedFactOnceAndTheAnswerGivesItsValue(int seed)
    {
        var example = new RagTask(Corpus, World).Create(new Random(seed), 128 + (seed * 47 % 1900));
        var text = string.Join("\n", example.Passages);

        Assert.InRange(example.Passages.Count, 1, 5);
        Assert.Equal(1, WholeWord.Count(text, example.PassageValue!));
        Assert.True(WholeWord.Contains(example.Answer!, example.PassageValue!));
        var needle = example.Needle!;
        var stated = example.Passages[needle.Passage].Substring(needle.Offset, needle.Length);
        Assert.Contains(stated, example.Forms!.Fact!.Renderings(example.Asked.Subject, example.Asked.Value));
        Assert.Contains(example.Answer!, example.Forms.Answer!.Renderings(example.Asked.Subject, example.Asked.Value));
        Assert.Contains(example.Question,
            example.Forms.Question.Renderings(example.Asked.Subject, example.Asked.Value));
        if (World.Find(example.Asked.Subject) is { } person)
            Assert.Equal(person.ValueOf(example.Asked.Attribute!.Value), example.MemorisedValue);
        else
            Assert.Null(example.MemorisedValue);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void DistractorsAreStatedWhereTheySayAndNeverGiveTheGoldValue(int seed)
    {
        var example = new RagTask(Corpus, World).Create(new Random(seed), 1024);
        var text = string.Join("\n", example.Passages);

        foreach (var distractor in example.Distractors)
        {
            var placed = example.Passages[distractor.Placement.Passage]
                .Substring(distractor.Placement.Offset, distractor.Placement.Length);
            Assert.Contains(placed, distractor.Form.Renderings(distractor.Fact.Subject, distractor.Fact.Value));
            Assert.NotEqual(example.PassageValue, distractor.Fact.Value, StringComparer.OrdinalIgnoreCase);
            Assert.True(WholeWord.Contains(text, distractor.Fact.Value));
        }
        Assert.DoesNotContain(example.PassageValue!, example.DistractorValues);
        Assert.All(example.DistractorValues, v => Assert.Equal(1, WholeWord.Count(text, v)));
    }

    [Fact]
    public void DistractorsOftenShareTheAttributeAndSometimesANearName()
    {
        var task = new RagTask(Corpus, World);
        var examples = Enumerable.Range(0, 300).Select(s => task.Create(new Random(s), 1024)).ToArray();

        var sameAttribute = examples.Count(e => e.DistractorValues.Count > 0);
        var near = examples.Where(e => e.Distractors.Any(d => d.NearName)).ToArray();
        Assert.InRange(sameAttribute, 140, 220);
        Assert.InRange(near.Length, 60, 160);
        foreach (var e in near)
        {
            var namesake = e.Distractors.First(d => d.NearName).Fact.Subject.Split(' ');
            var asked = e.Asked.Subject.Split(' ');
            Assert.NotEqual(asked, namesake);
            Assert.True(namesake[0] == asked[0] || namesake[1] == asked[1],
                $"{string.Join(' ', namesake)} vs {e.Asked.Subject}");
        }
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
        var text = string.Join("\n", example.Passages);

        Assert.Equal(person.ValueOf(example.Asked.Attribute!.Value), example.MemorisedValue);
        Assert.NotEqual(example.MemorisedValue, example.PassageValue);
        Assert.Equal(example.PassageValue, example.AnswerValue);
        Assert.True(WholeWord.Contains(example.Answer!, example.PassageValue!));
        Assert.Equal(1, WholeWord.Count(text, example.PassageValue!));
        Assert.Equal(0, WholeWord.Count(text, example.MemorisedValue!));
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void UnanswerablePassagesNeverHoldTheAskedValue(int seed)
    {
        var example = new UnanswerableTask(Corpus, World).Create(new Random(seed), 512);

        Assert.Null(example.PassageValue);
        Assert.Null(example.AnswerValue);
        Assert.Null(example.Answer);
        Assert.Null(World.Find(example.Asked.Subject));
        Assert.All(example.Passages, p => Assert.False(WholeWord.Contains(p, example.Asked.Value)));
        Assert.Throws<ArgumentException>(() => PromptFormat.ToTrainingSample(example));
    }

    [Fact]
    public void UnanswerableOftenBaitsAWrongEntityCopyOrNamesThePerson()
    {
        var task = new UnanswerableTask(Corpus, World);
        var examples = Enumerable.Range(0, 100).Select(s => task.Create(new Random(s), 512)).ToArray();

        Assert.InRange(examples.Count(e => e.DistractorValues.Count > 0), 50, 90);
        Assert.InRange(examples.Count(e => e.Passages.Any(p => p.Contains(e.Asked.Subject, StringComparison.Ordinal))),
            30, 70);
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void ClosedBookAsksAWorldPersonAndAnswersFromMemory(int seed)
    {
        var example = new ClosedBookTask(World).Create(new Random(seed), 2048);
        var person = World.Find(example.Asked.Subject)!;

        Assert.Empty(example.Passages);
        Assert.Equal(person.ValueOf(example.Asked.Attribute!.Value), example.AnswerValue);
        Assert.True(WholeWord.Contains(example.Answer!, example.AnswerValue!));
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

    [Theory]
    [InlineData(128)]
    [InlineData(300)]
    [InlineData(2048)]
    public void WholeSamplesFitTheirTargetLength(int target)
    {
        IQaTask[] tasks = [new RagTask(Corpus, World), new ConflictTask(Corpus, World)];
        foreach (var task in tasks)
            for (var seed = 0; seed < 30; seed++)
            {
                var sample = PromptFormat.ToTrainingSample(task.Create(new Random(seed), target));
                // Two special tokens (BOS, EOS) replace the literal end marker.
                var tokens =
                    SharedData.Tokens(sample.Text.Replace(PromptFormat.EndOfText, "", StringComparison.Ordinal)) + 2;
                Assert.InRange(tokens, target * 0.7, target);
            }
    }
}

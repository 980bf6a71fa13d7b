using RetrievalGuard.Data;
using RetrievalGuard.Data.Tests.Support;

namespace RetrievalGuard.Data.Tests;

public class EvalItemTests
{
    private static readonly Lazy<EvalSetBuilder> Builder =
        new(() => new EvalSetBuilder(
            Corpus.Load(SharedData.CorpusFolder, CorpusPart.Evaluation), SharedData.World, 42));

    private static readonly EvalItem Answerable = new("a", EvalKind.Answerable, ["The trade of Zo Vrak is baker."],
        "What is the trade of Zo Vrak?", "baker", null, 128)
    { DistractorValues = ["cooper"] };

    [Fact]
    public void ItemsAreDeterministicPerSeedAndDifferAcrossSeeds()
    {
        var other = new EvalSetBuilder(
            Corpus.Load(SharedData.CorpusFolder, CorpusPart.Evaluation), SharedData.World, 43);
        foreach (var kind in Enum.GetValues<EvalKind>())
        {
            Assert.Equal(EvalJsonl.Serialize(Builder.Value.Build(kind, 256, 3)),
                EvalJsonl.Serialize(Builder.Value.Build(kind, 256, 3)));
            Assert.NotEqual(EvalJsonl.Serialize(Builder.Value.Build(kind, 256, 3)),
                EvalJsonl.Serialize(other.Build(kind, 256, 3)));
        }
    }

    [Fact]
    public void GoldAndParametricFollowTheKindAndMemoryNeverAnswersAnAnswerableItem()
    {
        var items = Builder.Value.Build(Enum.GetValues<EvalKind>(), [128, 512], 10).ToArray();

        Assert.Equal(80, items.Length);
        Assert.Equal(items.Length, items.Select(i => i.Id).Distinct().Count());
        foreach (var item in items)
        {
            var text = string.Join("\n", item.Passages);
            switch (item.Kind)
            {
                case EvalKind.Unanswerable:
                    Assert.Null(item.Gold);
                    Assert.Null(item.Parametric);
                    Assert.Null(item.Needle);
                    break;
                case EvalKind.Conflict:
                    Assert.NotNull(item.Parametric);
                    Assert.NotEqual(item.Parametric, item.Gold);
                    Assert.Equal(1, WholeWord.Count(text, item.Gold!));
                    break;
                case EvalKind.Answerable:
                    Assert.Null(item.Parametric);
                    Assert.Null(SharedData.World.Find(item.Subject!));
                    Assert.Equal(1, WholeWord.Count(text, item.Gold!));
                    break;
                default:
                    Assert.Equal(1, WholeWord.Count(text, item.Gold!));
                    Assert.Contains(item.Needle!, text, StringComparison.Ordinal);
                    break;
            }
        }
    }

    [Theory]
    [InlineData(256)]
    [InlineData(2048)]
    public void PromptsNeverExceedTheirLengthBucket(int bucket)
    {
        foreach (var kind in Enum.GetValues<EvalKind>())
            foreach (var phrasing in new[] { FormSplit.Seen, FormSplit.HeldOut })
                for (var i = 0; i < 8; i++)
                {
                    var item = Builder.Value.Build(kind, bucket, i, phrasing);
                    // Room for the model's answer and EOS stays free.
                    Assert.InRange(item.ContextTokens, bucket * 0.6, bucket - EvalSetBuilder.AnswerReserveTokens - 1);
                    Assert.Equal(SharedData.Tokens(item.Prompt()) + 1, item.ContextTokens);
                }
    }

    [Fact]
    public void HeldOutItemsUseAHeldOutFormAndSeenItemsNone()
    {
        for (var i = 0; i < 20; i++)
        {
            var seen = Builder.Value.Build(EvalKind.Answerable, 512, i, FormSplit.Seen);
            var heldOut = Builder.Value.Build(EvalKind.Answerable, 512, i, FormSplit.HeldOut);
            Assert.Equal(FormSplit.Seen, seen.Phrasing);
            Assert.Equal(FormSplit.HeldOut, heldOut.Phrasing);
            Assert.Equal(2, FormIndex(heldOut.QuestionForm!) % 3);
            Assert.Equal(2, FormIndex(heldOut.FactForm!) % 3);
            Assert.NotEqual(2, FormIndex(seen.QuestionForm!) % 3);
            Assert.NotEqual(2, FormIndex(seen.FactForm!) % 3);
        }
    }

    [Fact]
    public void LabelsAndHallucinationKindsFollowFromConstruction()
    {
        var conflict = Answerable with { Kind = EvalKind.Conflict, Parametric = "tailor" };
        var agreeing = Answerable with { Parametric = "baker" };
        var unanswerable = Answerable with { Kind = EvalKind.Unanswerable, Gold = null };

        Assert.Equal((EvalLabel.Grounded, null), Answerable.Judge("The trade of Zo Vrak is Baker."));
        Assert.Equal((EvalLabel.Grounded, null), Answerable.Judge("Zo Vrak works as a baker."));
        Assert.Equal((EvalLabel.Hallucinated, HallucinationKind.Invented),
            Answerable.Judge("Zo Vrak is a bakery owner."));
        Assert.Equal((EvalLabel.Hallucinated, HallucinationKind.Invented), Answerable.Judge("miller."));
        Assert.Equal((EvalLabel.Hallucinated, HallucinationKind.WrongEntity), Answerable.Judge("Zo Vrak is a cooper."));
        Assert.Equal((EvalLabel.Hallucinated, HallucinationKind.WrongEntity), Answerable.Judge("baker or cooper"));
        Assert.Equal((EvalLabel.Grounded, null), conflict.Judge("baker."));
        Assert.Equal((EvalLabel.Hallucinated, HallucinationKind.Memory),
            conflict.Judge("The trade of Zo Vrak is tailor."));
        Assert.Equal((EvalLabel.Hallucinated, HallucinationKind.Memory), conflict.Judge("baker or tailor"));
        Assert.Equal((EvalLabel.Grounded, null), agreeing.Judge("baker"));
        Assert.Equal((EvalLabel.Hallucinated, HallucinationKind.Invented),
            unanswerable.Judge("The trade of Zo Vrak is baker."));
        Assert.Equal((EvalLabel.Hallucinated, HallucinationKind.WrongEntity), unanswerable.Judge("cooper"));
        Assert.Equal((EvalLabel.Hallucinated, HallucinationKind.Empty), unanswerable.Judge(" "));
    }

    [Fact]
    public void AnsweredCopiesCarryTheAnswerAndItsJudgement()
    {
        var answered = Answerable.Answered("Zo Vrak is a cooper.");

        Assert.Equal("Zo Vrak is a cooper.", answered.Answer);
        Assert.Equal(EvalLabel.Hallucinated, answered.Label);
        Assert.Equal(HallucinationKind.WrongEntity, answered.Hallucination);
        Assert.Null(Answerable.Answer);
    }

    [Fact]
    public void BuiltItemsAreGroundedOnTheirOwnNeedle()
    {
        foreach (var kind in new[] { EvalKind.Answerable, EvalKind.Conflict, EvalKind.Niah })
        {
            var item = Builder.Value.Build(kind, 256, 0);
            Assert.Equal(EvalLabel.Grounded, item.Judge(item.Needle!).Label);
            if (item.Parametric is { } memory && memory != item.Gold)
                Assert.Equal(HallucinationKind.Memory,
                    item.Judge(item.Needle!.Replace(item.Gold!, memory, StringComparison.Ordinal)).Kind);
        }
    }

    [Fact]
    public void TeacherForcedAnswersCoverEveryKindAndSurfaceWithTheirLabels()
    {
        var withDistractor = DistractorMix.Default with { SameAttribute = 1 };
        var item = Builder.Value.Build(EvalKind.Conflict, 512, 5, FormSplit.Seen, withDistractor);
        var answers = Builder.Value.TeacherForcedAnswers(item).ToArray();
        var text = string.Join("\n", item.Passages);

        Assert.Equal(4 * 4, answers.Length);
        Assert.Equal(answers.Length, answers.Select(a => a.Id).Distinct().Count());
        foreach (var answer in answers)
        {
            var expected = answer.AnswerKind == AnswerKind.Grounded ? EvalLabel.Grounded : EvalLabel.Hallucinated;
            Assert.Equal(expected, answer.Label);
            Assert.Equal(item.Passages, answer.Passages);
            switch (answer.AnswerKind)
            {
                case AnswerKind.Fabricated:
                    Assert.Equal(HallucinationKind.Invented, answer.Hallucination);
                    break;
                case AnswerKind.Swapped:
                    Assert.Equal(HallucinationKind.WrongEntity, answer.Hallucination);
                    Assert.Contains(item.DistractorValues,
                        v => WholeWord.Contains(answer.Answer!, v) && WholeWord.Contains(text, v));
                    break;
                case AnswerKind.Parametric:
                    Assert.Equal(HallucinationKind.Memory, answer.Hallucination);
                    break;
            }
        }
        Assert.Equal([AnswerStyle.Canonical, AnswerStyle.Bare, AnswerStyle.Paraphrase, AnswerStyle.Paraphrase],
            answers.Where(a => a.AnswerKind == AnswerKind.Grounded).Select(a => a.AnswerStyle!.Value));
        Assert.Equal(Fact.About(item.Attribute!.Value, item.Subject!, item.Gold!).Statement,
            answers.First(a => a.AnswerKind == AnswerKind.Grounded && a.AnswerStyle == AnswerStyle.Canonical).Answer);
        Assert.Empty(Builder.Value.TeacherForcedAnswers(Builder.Value.Build(EvalKind.Unanswerable, 256, 0)));
    }

    [Fact]
    public void JsonlRoundTripsWithSnakeCaseNames()
    {
        var items = Builder.Value.Build(Enum.GetValues<EvalKind>(), [128], 2)
            .Append(Builder.Value.BuildNiah(256, 0.5, 7))
            .Select(i => i.Answered("Zo Vrak is a cooper.")).ToArray();
        var writer = new StringWriter();

        EvalJsonl.Write(writer, items);
        var lines = writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var read = EvalJsonl.Read(new StringReader(writer.ToString())).ToArray();

        Assert.Equal(items.Length, lines.Length);
        Assert.Contains("\"kind\":\"answerable\"", lines[0], StringComparison.Ordinal);
        Assert.Contains("\"phrasing\":\"seen\"", lines[0], StringComparison.Ordinal);
        Assert.Contains("\"label\":\"hallucinated\"", lines[0], StringComparison.Ordinal);
        Assert.Contains("\"distractor_values\":", lines[0], StringComparison.Ordinal);
        Assert.Contains(lines, l => l.Contains("\"gold\":null", StringComparison.Ordinal));
        Assert.Equal(lines, read.Select(EvalJsonl.Serialize));
        Assert.Equal(items.Select(i => i.Prompt()), read.Select(i => i.Prompt()));
    }

    [Fact]
    public void NiahGridPutsTheNeedleAtTheAskedDepth()
    {
        var item = Builder.Value.BuildNiah(1024, 0.9, 1);
        var passage = Assert.Single(item.Passages);

        Assert.Equal(0.9, item.NeedleDepth);
        Assert.InRange(passage.IndexOf(item.Needle!, StringComparison.Ordinal) / (double)passage.Length, 0.8, 0.95);
    }

    [Fact]
    public void BuildsFromAnyFolderOfPlainText()
    {
        using var folder = new TempFolder();
        var paragraph = string.Join(' ', Enumerable.Repeat("The river ran quietly past the mill and the meadow.", 20));
        folder.Write("notes.txt", string.Join("\n\n", Enumerable.Repeat(paragraph, 40)));

        var item = EvalSetBuilder.FromFolder(folder.Path, 1).Build(EvalKind.Answerable, 256, 0);

        Assert.Contains(item.Needle!, string.Join("\n", item.Passages), StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => EvalSetBuilder.FromFolder(Path.Combine(folder.Path, "missing"), 1));
    }

    private static int FormIndex(string id) =>
        int.Parse(id.Split('.')[^1], System.Globalization.CultureInfo.InvariantCulture);
}

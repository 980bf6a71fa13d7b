using RetrievalGuard.Data;
using RetrievalGuard.Data.Tests.Support;

namespace RetrievalGuard.Data.Tests;

public class EvalItemTests
{
    private static readonly Lazy<EvalSetBuilder> Builder =
        new(() => new EvalSetBuilder(Corpus.Load(SharedData.CorpusFolder, CorpusPart.Evaluation), SharedData.World, 42));

    [Fact]
    public void ItemsAreDeterministicPerSeedAndDifferAcrossSeeds()
    {
        var other = new EvalSetBuilder(Corpus.Load(SharedData.CorpusFolder, CorpusPart.Evaluation), SharedData.World, 43);
        foreach (var kind in Enum.GetValues<EvalKind>())
        {
            Assert.Equal(EvalJsonl.Serialize(Builder.Value.Build(kind, 256, 3)), EvalJsonl.Serialize(Builder.Value.Build(kind, 256, 3)));
            Assert.NotEqual(EvalJsonl.Serialize(Builder.Value.Build(kind, 256, 3)), EvalJsonl.Serialize(other.Build(kind, 256, 3)));
        }
    }

    [Fact]
    public void GoldAndParametricFollowTheKind()
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
                default:
                    Assert.Equal(1, WholeWord.Count(text, item.Gold!));
                    Assert.Contains(item.Needle!, text, StringComparison.Ordinal);
                    break;
            }
        }
    }

    [Fact]
    public void LabelsFollowFromConstruction()
    {
        var answerable = new EvalItem("a", EvalKind.Answerable, ["The trade of Zo Vrak is baker."], "What is the trade of Zo Vrak?", "baker", null, 128);
        var conflict = answerable with { Kind = EvalKind.Conflict, Parametric = "tailor" };
        var agreeing = answerable with { Parametric = "baker" };
        var unanswerable = answerable with { Kind = EvalKind.Unanswerable, Gold = null };

        Assert.Equal(EvalLabel.Grounded, answerable.Label("The trade of Zo Vrak is Baker."));
        Assert.Equal(EvalLabel.Hallucinated, answerable.Label("The trade of Zo Vrak is bakery owner."));
        Assert.Equal(EvalLabel.Hallucinated, answerable.Label("The trade of Zo Vrak is miller."));
        Assert.Equal(EvalLabel.Grounded, conflict.Label("The trade of Zo Vrak is baker."));
        Assert.Equal(EvalLabel.Hallucinated, conflict.Label("The trade of Zo Vrak is tailor."));
        Assert.Equal(EvalLabel.Hallucinated, conflict.Label("baker or tailor"));
        Assert.Equal(EvalLabel.Grounded, agreeing.Label("baker"));
        Assert.Equal(EvalLabel.Hallucinated, unanswerable.Label("The trade of Zo Vrak is baker."));
        Assert.Equal(EvalLabel.Hallucinated, unanswerable.Label(""));
    }

    [Fact]
    public void BuiltItemsAreGroundedOnTheirOwnGoldAnswer()
    {
        foreach (var kind in new[] { EvalKind.Answerable, EvalKind.Conflict, EvalKind.Niah })
        {
            var item = Builder.Value.Build(kind, 256, 0);
            Assert.Equal(EvalLabel.Grounded, item.Label(item.Needle!));
            if (item.Parametric is { } memory && memory != item.Gold)
                Assert.Equal(EvalLabel.Hallucinated, item.Label(item.Needle!.Replace(item.Gold!, memory, StringComparison.Ordinal)));
        }
    }

    [Fact]
    public void JsonlRoundTripsWithSnakeCaseNames()
    {
        var items = Builder.Value.Build(Enum.GetValues<EvalKind>(), [128], 2).Append(Builder.Value.BuildNiah(256, 0.5, 7)).ToArray();
        var writer = new StringWriter();

        EvalJsonl.Write(writer, items);
        var lines = writer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var read = EvalJsonl.Read(new StringReader(writer.ToString())).ToArray();

        Assert.Equal(items.Length, lines.Length);
        Assert.Contains("\"context_tokens\":128", lines[0], StringComparison.Ordinal);
        Assert.Contains("\"kind\":\"answerable\"", lines[0], StringComparison.Ordinal);
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
}

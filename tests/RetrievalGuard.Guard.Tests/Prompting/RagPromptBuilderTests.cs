using RetrievalGuard.Guard.Prompting;
using RetrievalGuard.Guard.Tests.Support;

namespace RetrievalGuard.Guard.Tests.Prompting;

public sealed class RagPromptBuilderTests(OrganismFixture organism) : IClassFixture<OrganismFixture>
{
    private static readonly IReadOnlyList<Passage> Passages = Passage.Numbered(
    [
        "The coach left at dawn. The trade of Zo Vrakul is baker. Nobody spoke of it.",
        "Rain fell on the mill, and the river rose.",
    ]);

    [Fact]
    public void PassageAndQuestionRangesHoldExactlyTheirText()
    {
        var builder = RagPromptBuilder.For(organism.Model.Tokenizer);
        var prompt = builder.Build(Passages, "What is the trade of Zo Vrakul?");
        var tokenizer = organism.Model.Tokenizer;

        Assert.Equal(PromptStyle.Passages, builder.Style);
        Assert.Equal(tokenizer.Encode(prompt.Text), prompt.Ids);
        for (var p = 0; p < Passages.Count; p++)
            Assert.Equal(Passages[p].Text, tokenizer.Decode(prompt.Ids.Skip(prompt.PassageTokens[p].Start)
                .Take(prompt.PassageTokens[p].Length)).Trim());
        Assert.Equal("What is the trade of Zo Vrakul?", tokenizer.Decode(prompt.Ids.Skip(prompt.QuestionTokens.Start)
            .Take(prompt.QuestionTokens.Length)).Trim());
        var segments = prompt.SegmentOfPosition();
        Assert.Equal(4, prompt.SegmentCount);
        Assert.Equal(1, segments[prompt.PassageTokens[0].Start]);
        Assert.Equal(2, segments[prompt.PassageTokens[1].End - 1]);
        Assert.Equal(0, segments[prompt.QuestionTokens.Start]);
        Assert.Equal(1, prompt.PassageAt(prompt.PassageTokens[1].Start));
        Assert.Equal(-1, prompt.PassageAt(prompt.QuestionTokens.Start));
    }

    [Fact]
    public void AnAnswerFollowsThePromptTokensUnchanged()
    {
        var builder = RagPromptBuilder.For(organism.Model.Tokenizer);
        var prompt = builder.Build(Passages, "What is the trade of Zo Vrakul?");

        var (ids, start) = builder.WithAnswer(prompt, "Zo Vrakul is a baker.");

        Assert.Equal(prompt.Length, start);
        Assert.Equal(prompt.Ids, ids.Take(start));
        Assert.Equal("Zo Vrakul is a baker.", organism.Model.Tokenizer.Decode(ids.Skip(start)).Trim());
    }

    [Fact]
    public void EmptyPassagesAndQuestionsAreRefusedByName()
    {
        var builder = RagPromptBuilder.For(organism.Model.Tokenizer);
        var error = Assert.Throws<ArgumentException>(() =>
            builder.Build([new Passage("a", "text"), new Passage("b", " ")], "Q?"));
        Assert.Contains("Passage 2 is empty", error.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => builder.Build(Passages, " "));
    }
}

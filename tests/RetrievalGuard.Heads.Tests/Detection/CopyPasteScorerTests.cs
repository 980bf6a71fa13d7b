using RetrievalGuard.Engine.Native;
using RetrievalGuard.Heads.Detection;
using static TorchSharp.torch;

namespace RetrievalGuard.Heads.Tests.Detection;

/// <summary>The copy-paste score on hand-built attention with known answers.</summary>
public class CopyPasteScorerTests
{
    // Prompt tokens: positions 0..9; the needle is positions [3, 7) = tokens 40 41 40 42 (token 40 repeats).
    private static readonly int[] Prompt = [1, 5, 6, 40, 41, 40, 42, 7, 40, 9];

    private static long[] Top(params float[][] rows) =>
        CopyPasteScorer.TopPositions(stack(rows.Select(r => tensor(r)).ToArray()));

    private static float[] PeakAt(int position, int length = 10)
    {
        var row = Enumerable.Repeat(0.01f, length).ToArray();
        row[position] = 0.9f;
        return row;
    }

    [Fact]
    public void AHeadThatCopiesTheWholeNeedleScoresOne()
    {
        var scorer = new CopyPasteScorer(Prompt, 3, 7, heads: 2);
        int[] generated = [40, 41, 40, 42];
        int[] copyFrom = [3, 4, 5, 6];
        for (int i = 0; i < 4; i++)
            scorer.Step(generated[i], Top(PeakAt(copyFrom[i]), PeakAt(0)));
        Assert.Equal(1.0, scorer.Scores[0], 9);
        Assert.Equal(0.0, scorer.Scores[1]);
        Assert.Equal([true, false], scorer.Active);
    }

    [Fact]
    public void RepeatedNeedleTokensCountWhereverTheyStandInTheNeedleButNotOutside()
    {
        var scorer = new CopyPasteScorer(Prompt, 3, 7, heads: 3);
        // Generating 40: head 0 looks at the needle's second 40 (counts), head 1 at the 40 after the needle (does not),
        // head 2 at a needle position holding a different token (does not).
        scorer.Step(40, Top(PeakAt(5), PeakAt(8), PeakAt(4)));
        Assert.Equal([0.25, 0.0, 0.0], scorer.Scores);
    }

    [Fact]
    public void TiesGoToTheEarliestPosition()
    {
        var tied = Enumerable.Repeat(0f, 10).ToArray();
        tied[2] = tied[4] = 0.5f; // position 2 is outside the needle, 4 inside
        Assert.Equal([2L], Top(tied));
        var scorer = new CopyPasteScorer(Prompt, 3, 7, heads: 1);
        scorer.Step(41, Top(tied));
        Assert.Equal(0.0, scorer.Scores[0]);
    }

    [Fact]
    public void QueryHeadsSharingAKvHeadAreScoredSeparately()
    {
        // Under GQA two query heads read the same keys but have their own queries, so their top positions differ.
        var keys = eye(10);                                       // one orthogonal key per position
        var queries = stack([keys[4] * Scalars.Of(10L), keys[0] * Scalars.Of(10L)]); // head 0 aims at 4, head 1 at 0
        var attention = matmul(queries, keys.T).softmax(-1);
        var scorer = new CopyPasteScorer(Prompt, 3, 7, heads: 2);
        scorer.Step(41, CopyPasteScorer.TopPositions(attention));
        Assert.Equal([0.25, 0.0], scorer.Scores);
    }

    [Fact]
    public void RougeRecallCountsNeedleWords()
    {
        Assert.Equal(1.0, CopyPasteScorer.Rouge1Recall("The secret word of the red lantern is Kalomi.",
            "The secret word of the red lantern is Kalomi."));
        Assert.Equal(0.6, CopyPasteScorer.Rouge1Recall("the red lantern", "The red lantern is lit"), 9);
        Assert.Equal(0.0, CopyPasteScorer.Rouge1Recall("", "anything"));
    }

    [Fact]
    public void NeedleOutsideThePromptIsRefused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new CopyPasteScorer(Prompt, 8, 12, heads: 1));
}

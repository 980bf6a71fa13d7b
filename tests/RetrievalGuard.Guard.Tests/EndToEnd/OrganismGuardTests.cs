using RetrievalGuard.Data;
using RetrievalGuard.Guard.Prompting;
using RetrievalGuard.Guard.Tests.Support;

namespace RetrievalGuard.Guard.Tests.EndToEnd;

/// <summary>
/// The shipped organism with its shipped head map and calibration, on text it never trained on: answers copied from
/// the passages score lower risk than fabricated ones and than another person's value copied from the passages.
/// </summary>
public sealed class OrganismGuardTests(OrganismFixture organism) : IClassFixture<OrganismFixture>
{
    private HallucinationGuard Guard() => HallucinationGuard.ForModel(organism.Model);

    [Fact]
    public void TheShippedCalibrationIsFoundForTheShippedOrganism()
    {
        var guard = Guard();
        Assert.NotNull(guard.Calibration);
        Assert.Equal(organism.Map.RetrievalHeads.Count, guard.Heads.Count);
    }

    [Fact]
    public void GroundedAnswersScoreLowerRiskThanFabricatedAndSwappedOnes()
    {
        var guard = Guard();
        var corpus = Corpus.Load(RepoPaths.Path("samples", "corpus"), CorpusPart.Evaluation,
            organism.Model.Tokenizer.CountTokens);
        var builder = new EvalSetBuilder(corpus, World.Default, seed: 77);
        var withDistractor = DistractorMix.Default with { SameAttribute = 1 };
        var risks = new Dictionary<AnswerKind, List<double>>();
        for (var i = 0; i < 6; i++)
        {
            var item = builder.Build(EvalKind.Answerable, 384, i, FormSplit.Seen, withDistractor);
            foreach (var answer in builder.TeacherForcedAnswers(item)
                .Where(a => a.AnswerStyle == AnswerStyle.Canonical))
            {
                var report = guard.Score(Passage.Numbered(answer.Passages), answer.Question, answer.Answer!);
                risks.TryAdd(answer.AnswerKind!.Value, []);
                risks[answer.AnswerKind.Value].Add(report.Risk);
            }
        }
        var grounded = risks[AnswerKind.Grounded].Average();
        Assert.True(grounded < risks[AnswerKind.Fabricated].Average(),
            $"grounded {grounded:F2} vs fabricated {risks[AnswerKind.Fabricated].Average():F2}");
        Assert.True(grounded < risks[AnswerKind.Swapped].Average(),
            $"grounded {grounded:F2} vs swapped {risks[AnswerKind.Swapped].Average():F2}");
    }

    [Fact]
    public void AMalformedLineDoesNotStopScoring()
    {
        string[] lines =
        [
            """{"passages": ["The trade of Zo Vrakul is baker."], "question": "What is the trade of Zo Vrakul?", "answer": "Baker."}""",
            """{"passages": "not a list", "question": "q", "answer": "a"}""",
            "{broken",
            """{"passages": [{"id": "doc-7", "text": "Zo Vrakul comes from Lorovrur."}], "question": "Where does Zo Vrakul come from?", "answer": "Lorovrur."}""",
        ];
        var output = new StringWriter();

        var (scored, failed) = JsonlScoring.Score(Guard(), lines, output);

        var written = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal((2, 2), (scored, failed));
        Assert.Equal(4, written.Length);
        Assert.Contains("\"retrieval_guard\"", written[0], StringComparison.Ordinal);
        Assert.Contains("\"line\":2", written[1], StringComparison.Ordinal);
        Assert.Contains("'passages' must be a non-empty list", written[1], StringComparison.Ordinal);
        Assert.Contains("\"line\":3", written[2], StringComparison.Ordinal);
        Assert.Contains("doc-7", written[3], StringComparison.Ordinal);
    }
}

using RetrievalGuard.Guard.Evaluation;
using RetrievalGuard.Guard.Prompting;
using RetrievalGuard.Guard.Risk;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Guard.Tests.Evaluation;

public class GuardEvaluationTests
{
    private static LabelledAnswer Answer(string id, bool hallucinated, string kind) =>
        new(id, Passage.Numbered(["p"]), "q?", "a", hallucinated,
            new Dictionary<string, string> { ["answer_kind"] = kind });

    [Fact]
    public void ATinyLabelledSetGivesTheHandComputedAuroc()
    {
        // One feature, passed through a calibrator that is the identity on the logit scale: probability = σ(x).
        var method = new ScoringMethod(GuardCalibration.GuardMethod, "x", ["x"], _ => []);
        var calibration = new GuardCalibration(new HeadMapModel("Llama", 1, 1, 1, 1, null),
            [new CalibratedMethod(method.Name, new LogisticModel(["x"], [0.0], [1.0], [1.0], 0.0, 0.0))], 0.5);
        ScoredAnswer[] scored =
        [
            new(Answer("g1", false, "grounded"), [[0.1]]),
            new(Answer("g2", false, "grounded"), [[0.4]]),
            new(Answer("f1", true, "fabricated"), [[0.35]]),
            new(Answer("s1", true, "swapped"), [[0.8]]),
        ];

        var (groups, probabilities) = GuardEvaluation.Evaluate(calibration, [method], scored);

        // Pairs (hallucinated, grounded) ranked right: f1>g1, s1>g1, s1>g2; f1<g2 wrong → 3/4.
        var all = groups.Single(g => g.Group == "all").Methods.Single();
        Assert.Equal(0.75, all.Auroc, 12);
        // Each kind against every grounded answer: fabricated 1/2, swapped 2/2.
        Assert.Equal(0.5, groups.Single(g => g.Group == "answer_kind=fabricated").Methods[0].Auroc, 12);
        Assert.Equal(1.0, groups.Single(g => g.Group == "answer_kind=swapped").Methods[0].Auroc, 12);
        Assert.DoesNotContain(groups, g => g.Group == "answer_kind=grounded");
        Assert.Equal(1 / (1 + Math.Exp(-0.8)), probabilities[method.Name][3], 12);
        Assert.Contains("| retrievalguard | **0.750", GuardEvaluation.Markdown(groups), StringComparison.Ordinal);
    }
}

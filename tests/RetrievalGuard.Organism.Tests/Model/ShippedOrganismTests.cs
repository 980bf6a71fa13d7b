using RetrievalGuard.Data;
using RetrievalGuard.Engine;
using RetrievalGuard.Organism.Evaluation;

namespace RetrievalGuard.Organism.Tests.Model;

/// <summary>
/// The shipped organism (samples/models/organism, v2) on CPU: it recalls memorised facts, finds a needle in held-out
/// text, and answers from a passage asked in a seen and in a held-out phrasing — the abilities every later claim of
/// the project stands on.
/// </summary>
public sealed class ShippedOrganismTests : IClassFixture<ShippedOrganismTests.Loaded>
{
    public sealed class Loaded : IDisposable
    {
        public LanguageModel Model { get; } = LanguageModel.Load(RepoPaths.Path("samples", "models", "organism"));
        public OrganismEvaluator Evaluator { get; }
        public EvalSetBuilder HeldOut { get; }

        public Loaded()
        {
            Evaluator = new OrganismEvaluator(Model);
            var corpus = Corpus.Load(RepoPaths.Path("samples", "corpus"), CorpusPart.Evaluation, Evaluator.CountTokens);
            HeldOut = new EvalSetBuilder(corpus, World.Default, seed: 2026);
        }

        public void Dispose() => Model.Dispose();
    }

    private readonly Loaded _loaded;

    public ShippedOrganismTests(Loaded loaded) => _loaded = loaded;


    [Fact]
    public void IsTheDescribedArchitecture()
    {
        var c = _loaded.Model.Config;
        Assert.Equal((8, 8, 4, 256), (c.NumLayers, c.NumHeads, c.NumKvHeads, c.HiddenSize));
        Assert.True(c.NumLayers * c.NumHeads >= 64);
        Assert.True(new FileInfo(Path.Combine(_loaded.Model.Directory, "model.safetensors")).Length <= 16_000_000);
    }

    [Fact]
    public void RecallsMemorisedFactsClosedBook()
    {
        var (correct, total) = _loaded.Evaluator.ClosedBook(World.Default, count: 10, seed: 5);
        Assert.True(correct >= 9, $"{correct}/{total} memorised facts recalled");
    }

    [Fact]
    public void FindsANeedleInHeldOutText()
    {
        var answered = Enumerable.Range(0, 3)
            .Select(i => _loaded.Evaluator.Answer(_loaded.HeldOut.BuildNiah(256, 0.5, i))).ToList();
        Assert.All(answered, a => Assert.Equal(EvalLabel.Grounded, a.Label));
        Assert.All(answered, a => Assert.Contains(a.Gold!, a.Answer));
    }

    [Fact]
    public void AnswersFromThePassageAskedInASeenPhrasing()
    {
        var answered = Enumerable.Range(0, 6)
            .Select(i => _loaded.Evaluator.Answer(_loaded.HeldOut.Build(EvalKind.Answerable, 256, i, FormSplit.Seen,
                DistractorMix.None)))
            .ToList();
        Assert.True(answered.Count(a => a.Label == EvalLabel.Grounded) >= 5, Describe(answered));
    }

    [Fact]
    public void AnswersFromThePassageStatedAndAskedInPhrasingsItNeverSaw()
    {
        var answered = Enumerable.Range(0, 6)
            .Select(i => _loaded.Evaluator.Answer(_loaded.HeldOut.Build(EvalKind.Answerable, 256, i, FormSplit.HeldOut,
                DistractorMix.None)))
            .ToList();
        Assert.All(answered, a => Assert.Equal(FormSplit.HeldOut, a.Phrasing));
        Assert.True(answered.Count(a => a.Label == EvalLabel.Grounded) >= 2, Describe(answered));
    }

    [Fact]
    public void RecallsEveryKindOfMemorisedFact()
    {
        var person = World.Default.People[17];
        foreach (var attribute in PersonAttributes.All)
        {
            var fact = person.FactAbout(attribute);
            var answer = _loaded.Evaluator.Answer(PromptFormat.Prompt([], fact.Question));
            Assert.True(WholeWord.Contains(answer, fact.Value), $"{fact.Question} → {answer} (memorised {fact.Value})");
        }
    }

    private static string Describe(IEnumerable<EvalItem> answered) =>
        string.Join(" | ", answered.Select(a => $"{a.Question} → {a.Answer} (gold {a.Gold}, {a.FactForm})"));
}

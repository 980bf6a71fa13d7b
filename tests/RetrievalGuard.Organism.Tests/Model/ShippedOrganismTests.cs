using RetrievalGuard.Data;
using RetrievalGuard.Engine;
using RetrievalGuard.Organism.Evaluation;

namespace RetrievalGuard.Organism.Tests.Model;

/// <summary>
/// The shipped organism (samples/models/organism) on CPU: it recalls a memorised fact, finds a needle in held-out
/// text, and answers from a passage — the three abilities every later claim of the project stands on.
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
        Assert.True(new FileInfo(Path.Combine(_loaded.Model.Directory, "model.safetensors")).Length <= 12_000_000);
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
        var answered = Enumerable.Range(0, 3).Select(i => _loaded.Evaluator.Answer(_loaded.HeldOut.BuildNiah(256, 0.5, i))).ToList();
        Assert.All(answered, a => Assert.Equal(EvalLabel.Grounded, a.Label));
        Assert.All(answered, a => Assert.Contains(a.Gold!, a.Answer));
    }

    [Fact]
    public void AnswersFromThePassage()
    {
        var answered = Enumerable.Range(0, 4).Select(i => _loaded.Evaluator.Answer(_loaded.HeldOut.Build(EvalKind.Answerable, 256, i))).ToList();
        Assert.True(answered.Count(a => a.Label == EvalLabel.Grounded) >= 3, string.Join(" | ", answered.Select(a => $"{a.Question} → {a.Answer} (gold {a.Gold})")));
    }
}

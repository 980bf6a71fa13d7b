using RetrievalGuard.Data;

namespace RetrievalGuard.Data.Tests.Support;

/// <summary>The shipped corpus and default world, loaded once for all tests.</summary>
internal static class SharedData
{
    private static readonly Lazy<string> LazyCorpusFolder = new(() => RepoPaths.Path("samples", "corpus"));

    private static readonly Lazy<Corpus> LazyTraining = new(() => Corpus.Load(CorpusFolder, CorpusPart.Training));

    private static readonly Lazy<Corpus> LazyAll = new(() => Corpus.Load(CorpusFolder, CorpusPart.All));

    public static string CorpusFolder => LazyCorpusFolder.Value;

    public static Corpus TrainingCorpus => LazyTraining.Value;

    public static Corpus AllCorpus => LazyAll.Value;

    public static World World => World.Default;

    public static int Tokens(string text) => TokenEstimator.EstimateTokens(text);

}

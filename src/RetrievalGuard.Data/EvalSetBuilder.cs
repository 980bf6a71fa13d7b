namespace RetrievalGuard.Data;

/// <summary>
/// Builds evaluation items from any folder of plain text: haystacks and distractors come from that folder,
/// needles and new people are invented per seed, world facts come from the fixed world. Item (kind, length, index)
/// is the same for the same seed whatever else is built.
/// </summary>
public sealed class EvalSetBuilder
{
    private readonly int _seed;
    private readonly NiahTask _niah;
    private readonly Dictionary<EvalKind, IQaTask> _tasks;

    public EvalSetBuilder(Corpus corpus, World world, int seed)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentNullException.ThrowIfNull(world);
        _seed = seed;
        _niah = new NiahTask(corpus, world);
        _tasks = new Dictionary<EvalKind, IQaTask>
        {
            [EvalKind.Answerable] = new RagTask(corpus, world),
            [EvalKind.Conflict] = new ConflictTask(corpus, world),
            [EvalKind.Unanswerable] = new UnanswerableTask(corpus, world),
            [EvalKind.Niah] = _niah,
        };
    }

    /// <summary>Every text file of <paramref name="folder"/> (for the shipped corpus, pass its evaluation part via <see cref="Corpus.Load"/>).</summary>
    public static EvalSetBuilder FromFolder(string folder, int seed, World? world = null, Func<string, int>? countTokens = null) =>
        new(Corpus.Load(folder, CorpusPart.All, countTokens), world ?? World.Default, seed);

    public EvalItem Build(EvalKind kind, int contextTokens, int index)
    {
        ContextLength.Validate(contextTokens);
        var rng = RandomFor(kind, contextTokens, index);
        return EvalItem.From(Id(kind, contextTokens, index), kind, _tasks[kind].Create(rng, contextTokens), contextTokens);
    }

    /// <summary>A NIAH item with its needle at a chosen depth (for depth × length grids).</summary>
    public EvalItem BuildNiah(int contextTokens, double depth, int index)
    {
        ContextLength.Validate(contextTokens);
        var rng = RandomFor(EvalKind.Niah, contextTokens, index);
        return EvalItem.From(Id(EvalKind.Niah, contextTokens, index), EvalKind.Niah, _niah.Create(rng, contextTokens, depth), contextTokens);
    }

    /// <summary><paramref name="itemsPerCell"/> items of every kind at every length, kinds outermost.</summary>
    public IEnumerable<EvalItem> Build(IEnumerable<EvalKind> kinds, IEnumerable<int> contextLengths, int itemsPerCell)
    {
        ArgumentNullException.ThrowIfNull(kinds);
        ArgumentNullException.ThrowIfNull(contextLengths);
        ArgumentOutOfRangeException.ThrowIfNegative(itemsPerCell);
        var lengths = contextLengths.ToArray();
        foreach (var length in lengths)
            ContextLength.Validate(length, nameof(contextLengths));
        return kinds.ToArray().SelectMany(kind => lengths.SelectMany(length =>
            Enumerable.Range(0, itemsPerCell).Select(index => Build(kind, length, index))));
    }

    private static string Id(EvalKind kind, int contextTokens, int index) =>
        $"{kind.ToString().ToLowerInvariant()}-{contextTokens}-{index:D4}";

    private Random RandomFor(EvalKind kind, int contextTokens, int index) =>
        SeededRandom.For(_seed, ((long)kind << 56) ^ ((long)contextTokens << 28) ^ index);
}

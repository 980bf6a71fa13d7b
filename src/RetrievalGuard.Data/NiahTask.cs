namespace RetrievalGuard.Data;

/// <summary>
/// Needle in a haystack: an invented fact ("The secret word of the red lantern is Kalomi.") between two sentences at a
/// random depth of one passage of novel text; the answer repeats the needle sentence (the retrieval-head paper's task).
/// </summary>
public sealed class NiahTask(Corpus corpus, World world, int answerReserve = 0) : IQaTask
{
    private readonly PassageSetBuilder _passages = new(corpus, new FactInventor(world), answerReserve);

    public TaskKind Kind => TaskKind.Niah;

    public QaExample Create(Random rng, int contextTokens)
    {
        ArgumentNullException.ThrowIfNull(rng);
        return Create(rng, contextTokens, rng.NextDouble());
    }

    /// <param name="depth">Where the needle goes: 0 = start of the haystack, 1 = its end.</param>
    public QaExample Create(Random rng, int contextTokens, double depth)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ContextLength.Validate(contextTokens);
        var needle = _passages.Inventor.Needle(rng);
        var (passages, placements) = _passages.Build(rng, contextTokens, 1, needle.Question, needle.Statement,
            [needle.Statement], [needle.Value], [depth]);
        return new QaExample(TaskKind.Niah, passages, needle, needle.Question, needle.Statement, needle.Value, null,
            placements[0], null, []);
    }
}

namespace RetrievalGuard.Data;

/// <summary>
/// Needle in a haystack: an invented fact ("The secret word of the red lantern is Kalomi.") at a random depth of
/// one passage of novel text; the answer repeats the needle sentence.
/// </summary>
public sealed class NiahTask(Corpus corpus, World world) : IQaTask
{
    private readonly PassageSetBuilder _passages = new(corpus, new FactInventor(world));

    private FactInventor Inventor => _passages.Inventor;

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
        var needle = Inventor.Needle(rng);
        var count = _passages.Corpus.CountTokens;
        var room = contextTokens
            - PromptFormat.OverheadTokens(1, needle.Question, needle.Statement, count)
            - count(needle.Statement);
        var haystack = _passages.Filler(rng, room, [needle.Value]);
        var (text, offset) = DepthInsertion.Insert(haystack, needle.Statement, depth);
        return new QaExample(
            TaskKind.Niah, [text], needle, needle.Value, null, new NeedlePlacement(0, offset, needle.Statement.Length, depth));
    }
}

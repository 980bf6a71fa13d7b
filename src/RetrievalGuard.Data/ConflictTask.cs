namespace RetrievalGuard.Data;

/// <summary>Knowledge conflict: a passage gives a world person a value other than the memorised one; the answer follows the passage.</summary>
public sealed class ConflictTask(Corpus corpus, World world) : IQaTask
{
    private readonly PassageSetBuilder _passages = new(corpus, new FactInventor(world));

    private FactInventor Inventor => _passages.Inventor;

    public TaskKind Kind => TaskKind.Conflict;

    public QaExample Create(Random rng, int contextTokens)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ContextLength.Validate(contextTokens);
        var attribute = FactInventor.Attribute(rng);
        var memorised = Inventor.WorldPerson(rng).FactAbout(attribute);
        var stated = memorised.WithValue(Inventor.Value(rng, attribute, v => v == memorised.Value));
        return _passages.Grounded(Kind, rng, contextTokens, stated, memorised.Value);
    }
}

namespace RetrievalGuard.Data;

/// <summary>
/// Knowledge conflict: a passage gives a world person another value than the memorised one; the answer follows the
/// passage.
/// </summary>
public sealed class ConflictTask(Corpus corpus, World world, FormSplit split = FormSplit.Seen,
    DistractorMix? mix = null, int answerReserve = 0) : IQaTask
{
    private readonly QaComposer _composer = new(corpus, world, answerReserve);

    public TaskKind Kind => TaskKind.Conflict;

    public QaExample Create(Random rng, int contextTokens)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ContextLength.Validate(contextTokens);
        var attribute = FactInventor.Attribute(rng);
        var memorised = _composer.Inventor.WorldPerson(rng).FactAbout(attribute);
        var stated = memorised.WithValue(
            _composer.Inventor.Value(rng, attribute,
                v => string.Equals(v, memorised.Value, StringComparison.OrdinalIgnoreCase)));
        return _composer.Compose(Kind, rng, contextTokens, stated, stated, memorised.Value, split,
            mix ?? DistractorMix.Default);
    }
}

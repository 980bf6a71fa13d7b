namespace RetrievalGuard.Data;

/// <summary>
/// Closed-book recall: a question about a world person with no passage; the answer is the memorised value.
/// </summary>
public sealed class ClosedBookTask(World world, FormSplit split = FormSplit.Seen) : IQaTask
{
    private readonly FactInventor _inventor = new(world);

    public TaskKind Kind => TaskKind.ClosedBook;

    /// <param name="contextTokens">Validated for a uniform API; closed-book samples are as short as their
    /// question.</param>
    public QaExample Create(Random rng, int contextTokens)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ContextLength.Validate(contextTokens);
        return QaComposer.ClosedBook(rng, _inventor.WorldPerson(rng).FactAbout(FactInventor.Attribute(rng)), split);
    }
}

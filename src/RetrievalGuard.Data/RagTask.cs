namespace RetrievalGuard.Data;

/// <summary>
/// Retrieval QA: 1–5 passages, one stating a fact about a new person (or, with <paramref name="worldPersonShare"/>,
/// a world person's true fact); distractors are novel text or facts about other new people.
/// </summary>
public sealed class RagTask(Corpus corpus, World world, double worldPersonShare = RagTask.DefaultWorldPersonShare) : IQaTask
{
    /// <summary>Some RAG facts agree with memory, so passages are not a sign that memory is wrong.</summary>
    public const double DefaultWorldPersonShare = 0.3;

    private readonly PassageSetBuilder _passages = new(corpus, new FactInventor(world));

    private FactInventor Inventor => _passages.Inventor;

    public TaskKind Kind => TaskKind.Rag;

    public QaExample Create(Random rng, int contextTokens)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ContextLength.Validate(contextTokens);
        var attribute = FactInventor.Attribute(rng);
        if (rng.NextDouble() < worldPersonShare)
        {
            var fact = Inventor.WorldPerson(rng).FactAbout(attribute);
            return _passages.Grounded(Kind, rng, contextTokens, fact, fact.Value);
        }
        return _passages.Grounded(Kind, rng, contextTokens, Inventor.NewPersonFact(rng, attribute), null);
    }
}

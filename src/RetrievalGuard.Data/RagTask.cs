namespace RetrievalGuard.Data;

/// <summary>
/// Retrieval QA: 1–5 passages, one stating a fact about a new person (or, with <paramref name="worldPersonShare"/>, a
/// world person's true fact) in one of many forms, among distractor facts; the answer in one of many forms.
/// </summary>
public sealed class RagTask(Corpus corpus, World world, double worldPersonShare = RagTask.DefaultWorldPersonShare,
    FormSplit split = FormSplit.Seen, DistractorMix? mix = null, int answerReserve = 0) : IQaTask
{
    /// <summary>
    /// Some RAG facts agree with memory in training, so passages are not a sign that memory is wrong.
    /// </summary>
    public const double DefaultWorldPersonShare = 0.3;

    private readonly QaComposer _composer = new(corpus, world, answerReserve);

    public TaskKind Kind => TaskKind.Rag;

    public QaExample Create(Random rng, int contextTokens)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ContextLength.Validate(contextTokens);
        var attribute = FactInventor.Attribute(rng);
        if (rng.NextDouble() < worldPersonShare)
        {
            var fact = _composer.Inventor.WorldPerson(rng).FactAbout(attribute);
            return _composer.Compose(Kind, rng, contextTokens, fact, fact, fact.Value, split,
                mix ?? DistractorMix.Default);
        }
        var stated = _composer.Inventor.NewPersonFact(rng, attribute);
        return _composer.Compose(Kind, rng, contextTokens, stated, stated, null, split, mix ?? DistractorMix.Default);
    }
}

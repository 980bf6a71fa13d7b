namespace RetrievalGuard.Data;

/// <summary>
/// Evaluation only: passages that do not hold the asked fact about a new person. Often they state the same attribute
/// of someone else, sometimes of a near namesake (the bait for a wrong-entity copy), or other facts about the asked
/// person (the name is there, the answer is not). The hidden value appears nowhere. The organism is never taught to
/// abstain, so whatever it answers here is a hallucination.
/// </summary>
public sealed class UnanswerableTask(Corpus corpus, World world, FormSplit split = FormSplit.Seen,
    DistractorMix? mix = null, int answerReserve = 0) : IQaTask
{
    private readonly QaComposer _composer = new(corpus, world, answerReserve);

    public TaskKind Kind => TaskKind.Unanswerable;

    public QaExample Create(Random rng, int contextTokens)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ContextLength.Validate(contextTokens);
        var hidden = _composer.Inventor.NewPersonFact(rng, FactInventor.Attribute(rng));
        return _composer.Compose(Kind, rng, contextTokens, hidden, null, null, split,
            mix ?? DistractorMix.Unanswerable);
    }
}

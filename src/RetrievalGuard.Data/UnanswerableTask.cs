namespace RetrievalGuard.Data;

/// <summary>
/// Evaluation only: passages that do not hold the asked fact about a new person. Half the time a passage states
/// another attribute of the same person, so the name is there but the answer is not. The hidden value appears
/// nowhere. The organism is never taught to abstain, so whatever it answers here is a hallucination.
/// </summary>
public sealed class UnanswerableTask(Corpus corpus, World world) : IQaTask
{
    private const double SamePersonOtherFactShare = 0.5;

    private readonly PassageSetBuilder _passages = new(corpus, new FactInventor(world));

    private FactInventor Inventor => _passages.Inventor;

    public TaskKind Kind => TaskKind.Unanswerable;

    public QaExample Create(Random rng, int contextTokens)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ContextLength.Validate(contextTokens);
        var attribute = FactInventor.Attribute(rng);
        var hidden = Inventor.NewPersonFact(rng, attribute);
        Fact? otherFact = null;
        if (rng.NextDouble() < SamePersonOtherFactShare)
        {
            var other = PersonAttributes.All.First(a => a != attribute);
            otherFact = Inventor.NewPersonFact(rng, other, hidden.Subject, v => v == hidden.Value);
        }
        var requested = rng.Next(1, PassageSetBuilder.MaxPassages + 1);
        var (passages, _) = _passages.Build(rng, contextTokens, requested, hidden.Question, null, otherFact, [hidden.Value]);
        return new QaExample(Kind, passages, hidden, null, null, null);
    }
}

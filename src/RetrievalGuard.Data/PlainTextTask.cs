namespace RetrievalGuard.Data;

/// <summary>
/// Plain language modelling: a span of novel text, every token trained, no end marker (it is mid-book).
/// </summary>
public sealed class PlainTextTask(Corpus corpus)
{
    public TrainingSample Create(Random rng, int contextTokens)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ContextLength.Validate(contextTokens);
        return TrainingSample.PlainText(corpus.Span(rng, contextTokens));
    }
}

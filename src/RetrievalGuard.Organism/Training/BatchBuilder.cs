using RetrievalGuard.Data;
namespace RetrievalGuard.Organism.Training;

/// <summary>
/// Makes each step's batch: one context length per step (the curriculum's), rows of samples generated and tokenized
/// in parallel, padded to the longest row. Pure in (seed, step), so a run is reproducible.
/// </summary>
public sealed class BatchBuilder(TrainingSampleSource source, SampleTokenizer tokenizer, int tokensPerStep,
    int maxLength)
{
    public TokenBatch Build(int step, int totalSteps)
    {
        double progress = (double)step / totalSteps;
        int context = Math.Min(source.ContextTokensForStep(step, progress), maxLength - 16);
        int rows = Math.Max(1, tokensPerStep / context);
        var samples = new (int[] Tokens, bool[] Train)[rows];
        Parallel.For(0, rows, r =>
        {
            var (ids, train) = tokenizer.Tokenize(source.Sample((long)step * 4096 + r, context));
            // Over-long samples keep their end (the answer), which is what the loss is on.
            samples[r] = ids.Length <= maxLength ? (ids, train) : (ids[^maxLength..], train[^maxLength..]);
        });
        int length = samples.Max(s => s.Tokens.Length);
        return TokenBatch.FromRows(samples, length, padId: 0);
    }
}

using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Probes;

namespace RetrievalGuard.Heads.Detection;

/// <summary>
/// A greedy answer to a needle test, with each head's per-test retrieval score when heads were watched.
/// </summary>
public sealed record NeedleAnswer(string Answer, int NeedleTokenStart, int NeedleTokenEnd,
    IReadOnlyList<double>? Scores, IReadOnlyList<bool>? Active);

/// <summary>
/// Answers needle tests greedily, optionally watching every head (top-1 attended position per head, computed on the
/// device so only one number per head crosses to the host per step) or zeroing chosen heads.
/// </summary>
public sealed class NeedleRunner(LanguageModel model, int maxAnswerTokens = 48)
{
    public LanguageModel Model { get; } = model;

    /// <summary>Token positions [start, end) of the needle in the tokenized prompt.</summary>
    public (int[] Tokens, int Start, int End) Tokenize(NeedleTest test)
    {
        var tokens = Model.Tokenizer.Encode(test.Prompt).ToArray();
        int start = CommonPrefix(Model.Tokenizer.Encode(test.Prompt[..test.NeedleStart]), tokens);
        int end = CommonPrefix(Model.Tokenizer.Encode(test.Prompt[..(test.NeedleStart + test.NeedleLength)]), tokens);
        if (end <= start) end = Math.Min(tokens.Length, start + 1);
        return (tokens, start, end);
    }

    /// <param name="allHeads">Heads to score; it must keep each head's top position (TopK ≥ 1).</param>
    public NeedleAnswer Run(NeedleTest test, AttentionProbe? allHeads = null, HeadMask? mask = null)
    {
        if (allHeads is { TopK: < 1 })
            throw new ArgumentException("Copy-paste scoring needs each head's most attended position: "
                + "make the probe with TopK ≥ 1.", nameof(allHeads));
        var (tokens, start, end) = Tokenize(test);
        var scorer = allHeads is null ? null : new CopyPasteScorer(tokens, start, end, allHeads.Count);
        // The engine's generation loop (CUDA graphs on a GPU) on the model's reusable cache.
        string answer = Model.AnswerLine(tokens,
            new GenerationOptions { MaxNewTokens = maxAnswerTokens, Probe = allHeads, HeadMask = mask },
            step => scorer?.Step(step.Id, TopPositions(step.Summary!)));
        return new NeedleAnswer(answer, start, end, scorer?.Scores, scorer?.Active);
    }

    private static long[] TopPositions(AttentionSummary summary)
    {
        var top = new long[summary.Heads];
        for (int h = 0; h < top.Length; h++) top[h] = summary.TopPositions(h)[0];
        return top;
    }

    private static int CommonPrefix(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        int n = 0;
        while (n < a.Count && n < b.Count && a[n] == b[n]) n++;
        return n;
    }
}

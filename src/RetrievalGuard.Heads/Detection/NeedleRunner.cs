using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Probes;
using static TorchSharp.torch;

namespace RetrievalGuard.Heads.Detection;

/// <summary>A greedy answer to a needle test, with each head's per-test retrieval score when heads were watched.</summary>
public sealed record NeedleAnswer(string Answer, int NeedleTokenStart, int NeedleTokenEnd, IReadOnlyList<double>? Scores, IReadOnlyList<bool>? Active);

/// <summary>
/// Answers needle tests greedily, optionally watching every head (top-1 attended position per head, computed on the
/// device so only one integer per head crosses to the host per step) or zeroing chosen heads.
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

    public NeedleAnswer Run(NeedleTest test, AttentionProbe? allHeads = null, HeadMask? mask = null)
    {
        var (tokens, start, end) = Tokenize(test);
        var scorer = allHeads is null ? null : new CopyPasteScorer(tokens, start, end, allHeads.Count);
        var stops = Model.Tokenizer.StopTokenIds.ToHashSet();
        var generated = new List<int>();
        using var cache = Model.CreateCache(tokens.Length + maxAnswerTokens + 1);
        int next = Step(tokens, cache, allHeads, mask, scorer);
        while (!stops.Contains(next))
        {
            generated.Add(next);
            if (generated.Count >= maxAnswerTokens || Model.Tokenizer.Decode(generated).Contains('\n')) break;
            next = Step([next], cache, allHeads, mask, scorer);
        }
        string answer = Model.Tokenizer.Decode(generated).Split('\n')[0].Trim();
        return new NeedleAnswer(answer, start, end, scorer?.Scores, scorer?.Active);
    }

    /// <summary>One forward pass; scores the heads' copy-paste for the token it produces.</summary>
    private int Step(int[] input, IKvCache cache, AttentionProbe? probe, HeadMask? mask, CopyPasteScorer? scorer)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var ids = tensor(input.Select(i => (long)i).ToArray(), dtype: int64, device: Model.Device).unsqueeze(0);
        var logits = Model.Network.forward(ids, new ForwardOptions
        {
            StartPosition = cache.Length, Cache = cache, LogitsToKeep = 1, Probe = probe, HeadMask = mask,
        });
        int token = (int)logits[0, -1].argmax().item<long>();
        if (scorer is not null && probe?.Weights is { } weights)
            scorer.Step(token, CopyPasteScorer.TopPositions(weights[0, .., -1]));
        return token;
    }

    private static int CommonPrefix(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        int n = 0;
        while (n < a.Count && n < b.Count && a[n] == b[n]) n++;
        return n;
    }
}

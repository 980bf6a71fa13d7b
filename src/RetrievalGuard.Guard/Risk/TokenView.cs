using RetrievalGuard.Guard.Signals;

namespace RetrievalGuard.Guard.Risk;

/// <summary>
/// What the guard reads from one answer token, with the watched heads' votes combined by their weights: whether they
/// copied it from a passage (a head's most attended position is in a passage and holds this very token: the retrieval
/// head paper's copy-paste criterion), pointed into a passage at all, how much attention they gave the passages, and
/// how much of it looked back at the context rather than at the answer so far.
/// </summary>
public readonly record struct TokenView(
    int Index,
    bool IsContent,
    double Copy,
    double Point,
    double PassageMass,
    double Lookback,
    double LogProb,
    double Entropy,
    int SourcePosition)
{
    public static IReadOnlyList<TokenView> Of(AnswerSignals signals)
    {
        var content = ContentTokens(signals);
        var views = new TokenView[signals.Tokens.Count];
        for (var t = 0; t < views.Length; t++)
            views[t] = Of(signals, t) with { IsContent = content[t] };
        return views;
    }

    /// <summary>
    /// One token's view with the heads' votes combined (<see cref="IsContent"/> left false: whether a token is content
    /// depends on the whole word, which later tokens may extend). A token's votes never change once it is made, so
    /// live signals compute them once.
    /// </summary>
    public static TokenView Of(AnswerSignals signals, int t)
    {
        var passages = signals.Prompt.Passages.Count;
        var token = signals.Tokens[t];
        double copy = 0, point = 0, mass = 0, lookback = 0, strongest = 0;
        var source = -1;
        for (var h = 0; h < signals.Heads.Count; h++)
        {
            var look = token.Heads[h];
            var weight = signals.Heads[h].Weight;
            if (signals.Prompt.PassageAt(look.TopPosition) >= 0)
            {
                point += weight;
                if (signals.TokenAt(look.TopPosition) == token.Id)
                    copy += weight;
                if (look.TopWeight * weight > strongest)
                    (strongest, source) = (look.TopWeight * weight, look.TopPosition);
            }
            var passageMass = 0.0;
            for (var s = 1; s <= passages; s++)
                passageMass += look.SegmentMass[s];
            mass += weight * passageMass;
            lookback += weight * (1 - look.SegmentMass[passages + 1]);
        }
        return new TokenView(t, false, copy, point, mass, lookback, token.LogProb, token.Entropy, source);
    }

    /// <summary>
    /// Views of every token from votes already combined, with content flags for the answer as it stands.
    /// </summary>
    public static IReadOnlyList<TokenView> Of(AnswerSignals signals, IReadOnlyList<TokenView> votes)
    {
        var content = ContentTokens(signals);
        return votes.Select((v, t) => v with { IsContent = content[t] }).ToArray();
    }

    /// <summary>
    /// Tokens that overlap a content word of the answer that the question does not already hold: where an answer can
    /// be grounded or invented (the value), as opposed to function words and the question's own words.
    /// </summary>
    public static bool[] ContentTokens(AnswerSignals signals)
    {
        var asked = signals.Prompt.QuestionWords;
        var contentChars = new bool[signals.Answer.Length];
        foreach (var (start, end) in Words.Spans(signals.Answer))
        {
            var word = signals.Answer[start..end].ToLowerInvariant();
            if (!Words.Stopwords.Contains(word) && !asked.Contains(word))
                Array.Fill(contentChars, true, start, end - start);
        }
        return signals.Tokens.Select(t =>
            Enumerable.Range(t.CharStart, Math.Max(0, t.CharEnd - t.CharStart))
                .Any(c => c < contentChars.Length && contentChars[c]))
            .ToArray();
    }
}

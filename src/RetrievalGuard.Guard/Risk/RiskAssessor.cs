using RetrievalGuard.Guard.Signals;

namespace RetrievalGuard.Guard.Risk;

/// <summary>
/// Turns an answer's signals into a <see cref="GuardReport"/>: the calibrated risk of the whole answer, the risk of
/// each phrase of content words (flagged above the threshold), and per sentence the passages its retrieval-head
/// attention went to. Plain arithmetic on the signals; no model is run here.
/// </summary>
public sealed class RiskAssessor(IRiskModel? calibrator, double threshold = 0.5)
{
    /// <summary>Passages with at least this share of a sentence's passage attention are cited.</summary>
    public const double CitationShare = 0.2;

    public IRiskModel? Calibrator { get; } = calibrator;

    public double Threshold { get; } = threshold;

    public GuardReport Assess(AnswerSignals signals)
    {
        ArgumentNullException.ThrowIfNull(signals);
        var views = TokenView.Of(signals);
        var features = GuardFeatures.Compute(signals, views);
        var risk = Risk(features);
        // A span is a claim the passages could support or not: a phrase the heads pointed into a passage for, or a
        // name or number; its risk is the answer's, judged with that phrase as the value.
        var spans = GuardFeatures.Runs(views.Where(v => v.IsContent).ToArray())
            .Where(run => IsClaim(signals, run))
            .Select(run => Span(signals, run, Risk(GuardFeatures.Compute(signals, views, run))))
            .ToArray();
        var attribution = Sentences(signals.Answer)
            .Select(s => Attribute(signals, s.Start, s.End))
            .ToArray();
        var citations = attribution
            .SelectMany(a => a.Passages.Where(p => p.Share >= CitationShare).Select(p => p.PassageId))
            .Distinct().ToArray();
        var named = GuardFeatures.Names.Zip(features).ToDictionary(p => p.First, p => p.Second);
        var tokens = views.Select(v => Grounding(signals, v)).ToArray();
        return new GuardReport(signals.Answer, risk, risk >= Threshold, spans, attribution, citations, named, tokens);
    }

    /// <summary>The risk of the answer so far (live streaming), from votes combined once per token.</summary>
    public double RiskSoFar(AnswerSignals signals, IReadOnlyList<TokenView> votes) =>
        Risk(GuardFeatures.Compute(signals, TokenView.Of(signals, votes)));

    private double Risk(double[] features) => Calibrator?.Predict(features) ?? double.NaN;

    /// <summary>Share of the heads' vote that must point into a passage for a phrase to count as read from
    /// one.</summary>
    public const double ClaimPoint = 0.5;

    private static bool IsClaim(AnswerSignals signals, IReadOnlyList<TokenView> run)
    {
        if (run.Any(v => v.Point >= ClaimPoint))
            return true;
        var start = signals.Tokens[run[0].Index].CharStart;
        var end = signals.Tokens[run[^1].Index].CharEnd;
        var text = signals.Answer[start..end];
        // Names and numbers are claims wherever the heads looked (an invented one included).
        return text.Any(char.IsDigit) || text.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Any(w => char.IsUpper(w[0]) && start + text.IndexOf(w, StringComparison.Ordinal) > 0);
    }

    private GuardSpan Span(AnswerSignals signals, IReadOnlyList<TokenView> run, double risk)
    {
        var start = signals.Tokens[run[0].Index].CharStart;
        var end = signals.Tokens[run[^1].Index].CharEnd;
        // Trim to the words: a token may carry the space before its word.
        while (start < end && !char.IsLetterOrDigit(signals.Answer[start]))
            start++;
        while (end > start && !char.IsLetterOrDigit(signals.Answer[end - 1]))
            end--;
        return new GuardSpan(start, end - start, signals.Answer[start..end], risk, risk >= Threshold);
    }

    private static TokenGrounding Grounding(AnswerSignals signals, TokenView view)
    {
        var token = signals.Tokens[view.Index];
        var shares = new double[signals.Prompt.Passages.Count];
        for (var h = 0; h < signals.Heads.Count; h++)
            for (var p = 0; p < shares.Length; p++)
                shares[p] += signals.Heads[h].Weight * token.Heads[h].SegmentMass[p + 1];
        return new TokenGrounding(token.CharStart, token.CharEnd - token.CharStart,
            signals.Answer[token.CharStart..token.CharEnd], view.Copy, shares);
    }

    private static SentenceAttribution Attribute(AnswerSignals signals, int start, int end)
    {
        var passages = signals.Prompt.Passages;
        var shares = new double[passages.Count];
        foreach (var token in signals.Tokens.Where(t => t.CharEnd > start && t.CharStart < end))
            for (var h = 0; h < signals.Heads.Count; h++)
                for (var p = 0; p < passages.Count; p++)
                    shares[p] += signals.Heads[h].Weight * token.Heads[h].SegmentMass[p + 1];
        var total = shares.Sum();
        var ranked = shares.Select((share, p) => new PassageShare(passages[p].Id, total > 0 ? share / total : 0))
            .Where(s => s.Share > 0)
            .OrderByDescending(s => s.Share)
            .ToArray();
        return new SentenceAttribution(start, end - start, signals.Answer[start..end], ranked);
    }

    /// <summary>Sentence ranges of a text: up to and including '.', '!' or '?' followed by a space or the
    /// end.</summary>
    public static IReadOnlyList<(int Start, int End)> Sentences(string text)
    {
        var sentences = new List<(int, int)>();
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] is '.' or '!' or '?' && (i + 1 == text.Length || char.IsWhiteSpace(text[i + 1])))
            {
                sentences.Add((start, i + 1));
                start = i + 1;
                while (start < text.Length && char.IsWhiteSpace(text[start]))
                    start++;
                i = start - 1;
            }
        }
        if (start < text.Length && text[start..].Trim().Length > 0)
            sentences.Add((start, text.Length));
        return sentences;
    }
}

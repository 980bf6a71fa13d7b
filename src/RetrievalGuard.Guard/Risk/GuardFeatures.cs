using RetrievalGuard.Guard.Signals;

namespace RetrievalGuard.Guard.Risk;

/// <summary>
/// The answer-level features the calibrated risk is computed from, aggregated over the answer's content tokens (all
/// tokens when it has none). Copy and pointing come from the watched heads; log-probability and entropy are the
/// model's own uncertainty; the source's entity match checks that the sentence the heads copied from is about the
/// entity the question names (a wrong-entity copy is copied, but from someone else's sentence). The "value" features
/// look at the one phrase the heads read from the passages most; word overlap is the lexical floor, so the heads'
/// features are judged by what they add to it (random heads get it too).
/// </summary>
public static class GuardFeatures
{
    public static IReadOnlyList<string> Names { get; } =
    [
        "copy_mean", "copy_max", "run_copy_min", "mismatch_max", "passage_mass_mean", "passage_mass_min",
        "lookback_mean", "logprob_mean", "logprob_min", "entropy_mean", "entropy_max", "source_entity_match",
        "source_share", "value_copy", "value_entity_match", "value_logprob_min", "word_overlap",
    ];

    public static double[] Compute(AnswerSignals signals) => Compute(signals, TokenView.Of(signals));

    /// <summary>
    /// Features of the tokens in <paramref name="views"/> (the answer so far, say). <paramref name="value"/> names the
    /// phrase to judge as the value (a span's risk); by default the phrase the heads read from the passages most.
    /// </summary>
    public static double[] Compute(AnswerSignals signals, IReadOnlyList<TokenView> views,
        IReadOnlyList<TokenView>? value = null)
    {
        ArgumentNullException.ThrowIfNull(signals);
        var content = views.Where(v => v.IsContent).ToArray();
        var chosen = content.Length > 0 ? content : views.ToArray();
        if (chosen.Length == 0)
            return Empty();
        double Entity(TokenView v) => signals.Prompt.QuestionEntityShare(signals.SentenceAt(v.SourcePosition));
        var sourced = chosen.Where(v => v.SourcePosition >= 0).ToArray();
        var entityMatch = sourced.Length == 0 ? 0 : sourced.Average(Entity);
        // The value: the phrase the retrieval heads read from the passages most (where an answer is grounded or not).
        value ??= ValuePhrase(chosen);
        var valueSourced = value.Where(v => v.SourcePosition >= 0).ToArray();
        return
        [
            chosen.Average(v => v.Copy),
            chosen.Max(v => v.Copy),
            Runs(chosen).Min(run => run.Max(v => v.Copy)),
            chosen.Max(v => v.Point - v.Copy),
            chosen.Average(v => v.PassageMass),
            chosen.Min(v => v.PassageMass),
            chosen.Average(v => v.Lookback),
            chosen.Average(v => v.LogProb),
            chosen.Min(v => v.LogProb),
            chosen.Average(v => v.Entropy),
            chosen.Max(v => v.Entropy),
            entityMatch,
            (double)sourced.Length / chosen.Length,
            value.Average(v => v.Copy),
            valueSourced.Length == 0 ? 0 : valueSourced.Average(Entity),
            value.Min(v => v.LogProb),
            WordOverlap(signals),
        ];
    }

    /// <summary>Share of the answer's content words (not in the question) that occur in the passages.</summary>
    public static double WordOverlap(AnswerSignals signals)
    {
        var asked = signals.Prompt.QuestionWords;
        var content = Words.Content(signals.Answer).Where(w => !asked.Contains(w)).ToArray();
        return content.Length == 0 ? 1 : content.Count(signals.Prompt.PassageWords.Contains) / (double)content.Length;
    }

    /// <summary>
    /// Features of an answer with no tokens: nothing copied, nothing sourced, no uncertainty measured.
    /// </summary>
    private static double[] Empty() => new double[Names.Count];

    /// <summary>The phrase of content tokens the heads read from the passages most: the answer's value.</summary>
    public static IReadOnlyList<TokenView> ValuePhrase(IReadOnlyList<TokenView> views) =>
        Runs(views).MaxBy(run => run.Average(v => v.PassageMass))!;

    /// <summary>Share of the question's entity words found in a sentence.</summary>
    public static double EntityShare(string sentence, IReadOnlySet<string> entities)
    {
        if (entities.Count == 0)
            return 1;
        var words = Words.Of(sentence).ToHashSet(StringComparer.Ordinal);
        return entities.Count(words.Contains) / (double)entities.Count;
    }

    /// <summary>Runs of consecutive tokens (by index): the phrases of an answer.</summary>
    public static IEnumerable<IReadOnlyList<TokenView>> Runs(IReadOnlyList<TokenView> views)
    {
        var run = new List<TokenView>();
        foreach (var view in views)
        {
            if (run.Count > 0 && view.Index != run[^1].Index + 1)
            {
                yield return run;
                run = [];
            }
            run.Add(view);
        }
        if (run.Count > 0)
            yield return run;
    }
}

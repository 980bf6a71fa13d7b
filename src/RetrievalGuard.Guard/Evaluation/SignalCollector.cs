using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Guard.Prompting;
using RetrievalGuard.Guard.Signals;

namespace RetrievalGuard.Guard.Evaluation;

/// <summary>Feature rows of every method for one labelled answer.</summary>
public sealed record ScoredAnswer(LabelledAnswer Answer, IReadOnlyList<double[]> Features);

/// <summary>
/// Reads labelled answers with every head of the model watched (one teacher-forced pass per answer, the prompt read
/// once for all answers that share it) and keeps each method's features. The model's own answers read this way give the
/// signals they gave live (a test checks), so live and teacher-forced files are scored alike.
/// </summary>
public sealed class SignalCollector(LanguageModel model, RagPromptBuilder prompts, IReadOnlyList<ScoringMethod> methods,
    int prefillChunk = 0)
{
    private readonly SignalReader _reader = new(model,
        HeadIndex.All(model.Config.NumLayers, model.Config.NumHeads).Select(h => new WatchedHead(h, 1.0)).ToArray(),
        prompts);

    public IReadOnlyList<ScoringMethod> Methods { get; } = methods;

    /// <summary>Every head of the model, in the order the observation watches them.</summary>
    public static IReadOnlyList<HeadIndex> AllHeads(LanguageModel model) =>
        HeadIndex.All(model.Config.NumLayers, model.Config.NumHeads).ToArray();

    /// <param name="progress">Called with (answers done, total) after each prompt.</param>
    /// <param name="failed">Called for an answer that could not be read (too long for the model, say).</param>
    public IReadOnlyList<ScoredAnswer> Collect(IReadOnlyList<LabelledAnswer> answers, Action<int, int>? progress = null,
        Action<LabelledAnswer, Exception>? failed = null, CancellationToken cancellationToken = default)
    {
        var scored = new List<ScoredAnswer>(answers.Count);
        var done = 0;
        foreach (var group in
            answers.GroupBy(a => (Key: string.Join("\u0001", a.Passages.Select(p => p.Text)), a.Question)))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var members = group.ToArray();
            try
            {
                var prompt = prompts.Build(members[0].Passages, members[0].Question);
                var signals = _reader.ReadAnswers(prompt, members.Select(m => m.Answer).ToArray(), prefillChunk);
                for (var i = 0; i < members.Length; i++)
                    scored.Add(new ScoredAnswer(members[i], Methods.Select(m => m.Features(signals[i])).ToArray()));
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException && failed is not null)
            {
                foreach (var member in members)
                    failed(member, e);
            }
            done += members.Length;
            progress?.Invoke(done, answers.Count);
        }
        return scored;
    }

    /// <summary>
    /// The features of every method as a tab-separated table (id, label, groups, then one column per method feature),
    /// for analysis outside the guard.
    /// </summary>
    public static void WriteTable(TextWriter writer, IReadOnlyList<ScoringMethod> methods,
        IReadOnlyList<ScoredAnswer> scored)
    {
        var columns = methods.SelectMany(m => m.FeatureNames.Select(f => $"{m.Name}.{f}"));
        writer.WriteLine(string.Join('\t', new[] { "id", "hallucinated", "groups" }.Concat(columns)));
        foreach (var answer in scored)
        {
            var groups = string.Join(';', answer.Answer.Groups.Select(g => $"{g.Key}={g.Value}"));
            var values = answer.Features.SelectMany(f => f)
                .Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture));
            writer.WriteLine(string.Join('\t',
                new[] { answer.Answer.Id, answer.Answer.Hallucinated ? "1" : "0", groups }.Concat(values)));
        }
    }
}

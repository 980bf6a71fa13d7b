using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Guard.Prompting;

namespace RetrievalGuard.Guard.Signals;

/// <summary>What one watched head did while an answer token was produced: its most attended position and the share of
/// its attention in each segment of the prompt (rest of prompt, each passage, the answer so far).</summary>
public readonly record struct HeadLook(int TopPosition, float TopWeight, float[] SegmentMass);

/// <summary>
/// One answer token: where it sits in the answer text, the model's own uncertainty at it, and what each watched head
/// did (in the order of <see cref="AnswerSignals.Heads"/>).
/// </summary>
public sealed record TokenSignal(
    int Id,
    int Position,
    int CharStart,
    int CharEnd,
    float LogProb,
    float Entropy,
    IReadOnlyList<HeadLook> Heads);

/// <summary>A watched head and its weight (the head map's score, normalised over the watched heads).</summary>
public readonly record struct WatchedHead(HeadIndex Head, double Weight);

/// <summary>
/// Everything the guard observed for one answer: the prompt and its segments, the answer text, and per token the
/// signals of the watched heads. Live generation and teacher-forced reading of the same tokens give the same signals.
/// </summary>
public sealed class AnswerSignals(RagPrompt prompt, string answer, IReadOnlyList<TokenSignal> tokens,
    IReadOnlyList<WatchedHead> heads, Func<int, string>? sentenceAt = null)
{
    private readonly Dictionary<int, string> _sentences = new();

    public RagPrompt Prompt { get; } = prompt;

    public string Answer { get; } = answer;

    public IReadOnlyList<TokenSignal> Tokens { get; } = tokens;

    public IReadOnlyList<WatchedHead> Heads { get; } = heads;

    /// <summary>The token id at a position of prompt + answer.</summary>
    public int TokenAt(int position)
    {
        if (position < Prompt.Length)
            return Prompt.Ids[position];
        var index = position - Prompt.Length;
        return index >= 0 && index < Tokens.Count ? Tokens[index].Id : -1;
    }

    /// <summary>
    /// The sentence of the passage around prompt position <paramref name="position"/> (a copy's source).
    /// </summary>
    public string SentenceAt(int position)
    {
        if (sentenceAt is null)
            throw new InvalidOperationException("These signals were made without access to the prompt's text.");
        if (!_sentences.TryGetValue(position, out var sentence))
            _sentences[position] = sentence = sentenceAt(position);
        return sentence;
    }

    /// <summary>The same observation restricted to some of the watched heads, their weights renormalised.</summary>
    public AnswerSignals Subset(IReadOnlyList<HeadIndex> keep)
    {
        var index = keep.Select(h => Heads.ToList().FindIndex(w => w.Head == h)).ToArray();
        if (index.Any(i => i < 0))
            throw new ArgumentException($"Head {keep[Array.IndexOf(index, -1)]} was not watched.", nameof(keep));
        var total = index.Sum(i => Heads[i].Weight);
        var heads = index
            .Select(i => Heads[i] with { Weight = total > 0 ? Heads[i].Weight / total : 1.0 / index.Length })
            .ToArray();
        var tokens = Tokens.Select(t => t with { Heads = index.Select(i => t.Heads[i]).ToArray() }).ToArray();
        return new AnswerSignals(Prompt, Answer, tokens, heads, sentenceAt);
    }

    /// <summary>
    /// The same observation with <paramref name="weights"/> for the watched heads (e.g. a map's scores).
    /// </summary>
    public AnswerSignals Reweighted(IReadOnlyList<double> weights)
    {
        if (weights.Count != Heads.Count)
            throw new ArgumentException($"{weights.Count} weights for {Heads.Count} heads.", nameof(weights));
        var total = weights.Sum();
        var heads = Heads.Select((h, i) => h with { Weight = total > 0 ? weights[i] / total : 1.0 / Heads.Count })
            .ToArray();
        return new AnswerSignals(Prompt, Answer, Tokens, heads, sentenceAt);
    }
}

using System.Threading.Channels;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Tokenization;
using RetrievalGuard.Guard.Prompting;
using RetrievalGuard.Guard.Signals;

namespace RetrievalGuard.Guard.Serving;

/// <summary>
/// One request inside a <see cref="GuardScheduler"/>: it turns the decoder's token steps into streamed
/// <see cref="GuardedToken"/>s. Text that could be the start of a stop string is held back (with its tokens) until
/// the next tokens show it is not; the guard reads a token only once its text is released, so the report describes
/// exactly the text the client received. The last token is written when the answer ends, carrying the report.
/// </summary>
internal sealed class ScheduledAnswer
{
    private readonly HallucinationGuard _guard;
    private readonly IncrementalDecoder _text;
    private readonly IReadOnlyList<string> _stops;
    private readonly SignalReader.LiveSignals? _live;
    private readonly List<(TokenStep Step, string Text)> _held = [];
    private readonly Channel<GuardedToken> _output = Channel.CreateUnbounded<GuardedToken>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private GuardedToken? _unsent;
    private GuardedToken? _final; // the last token, made when the answer ends and sent by Complete
    private int _cancelled;

    public ScheduledAnswer(HallucinationGuard guard, IReadOnlyList<int> ids, RagPrompt? prompt,
        GenerationOptions options, IReadOnlyList<string> stops)
    {
        _guard = guard;
        Ids = ids;
        Prompt = prompt;
        Options = options;
        _text = guard.Model.Tokenizer.CreateIncrementalDecoder();
        _live = prompt is null ? null : guard.Reader.Live(prompt);
        // The organism's passages layout answers in one line: the line break ends the answer, as in AskAsync.
        _stops = prompt is not null && guard.Prompts.Style == PromptStyle.Passages ? [.. stops, "\n"] : stops;
    }

    public IReadOnlyList<int> Ids { get; }

    /// <summary>The guarded prompt; null for an unguarded chat reply.</summary>
    public RagPrompt? Prompt { get; }

    public GenerationOptions Options { get; }

    public BatchSequence? Sequence { get; set; }

    public ChannelReader<GuardedToken> Output => _output.Reader;

    public bool IsCancelled => Volatile.Read(ref _cancelled) == 1;

    /// <summary>Tokens the model made for this answer (stop tokens included).</summary>
    public int TokensMade { get; private set; }

    /// <summary>Marks the answer abandoned (client gone); the scheduler frees its row before the next step.</summary>
    public void Cancel() => Interlocked.Exchange(ref _cancelled, 1);

    /// <summary>
    /// Takes one step; true when the answer has ended: the scheduler then frees its row and calls
    /// <see cref="Complete"/>.
    /// </summary>
    /// <param name="last">The decoder finished the sequence (a stop token or its token limit).</param>
    public bool Accept(TokenStep step, bool last)
    {
        TokensMade++;
        if (step.IsStop)
            return End(FinishReason.Stop, _held.Count);
        var delta = _text.Push(step.Id) + (last ? _text.Flush() : "");
        _held.Add((step, delta));
        var heldText = string.Concat(_held.Select(h => h.Text));
        var cut = FirstStop(heldText);
        if (cut >= 0)
        {
            TrimHeldTo(cut);
            return End(FinishReason.Stop, _held.Count);
        }
        if (last)
            return End(FinishReason.Length, _held.Count);
        Release(TokensBefore(heldText.Length - HeldBack(heldText)));
        return false;
    }

    /// <summary>Ends the stream with an error (a failed prefill or step, or the scheduler stopping).</summary>
    public void Fail(Exception error) => _output.Writer.TryComplete(error);

    private bool End(FinishReason reason, int release)
    {
        Release(release);
        var report = _live is null ? null : _guard.Assessor.Assess(_live.Signals);
        var final = _unsent ?? new GuardedToken(-1, "", double.NaN);
        _unsent = null;
        _final = final with { RiskSoFar = report?.Risk ?? double.NaN, Report = report, Finish = reason };
        return true;
    }

    /// <summary>Sends the last token (with the report) and closes the stream; the scheduler calls it once the row is
    /// free.</summary>
    public void Complete()
    {
        if (_final is { } final)
            _output.Writer.TryWrite(final);
        _final = null;
        _output.Writer.TryComplete();
    }

    /// <summary>
    /// Streams the first <paramref name="count"/> held tokens (each written once its successor exists).
    /// </summary>
    private void Release(int count)
    {
        foreach (var (step, text) in _held.Take(count))
        {
            if (_unsent is not null)
                _output.Writer.TryWrite(_unsent);
            _live?.Add(step, text);
            var risk = _live is null ? double.NaN : _guard.Assessor.RiskSoFar(_live.Signals, _live.Votes);
            _unsent = new GuardedToken(step.Id, text, risk) { LogProb = step.LogProb };
        }
        _held.RemoveRange(0, count);
    }

    /// <summary>Held tokens whose text ends at or before <paramref name="length"/> characters of held text.</summary>
    private int TokensBefore(int length)
    {
        int count = 0, end = 0;
        foreach (var (_, text) in _held)
        {
            end += text.Length;
            if (end > length)
                break;
            count++;
        }
        return count;
    }

    /// <summary>
    /// Keeps the held text before <paramref name="cut"/>: tokens after it go, the one across it is cut.
    /// </summary>
    private void TrimHeldTo(int cut)
    {
        int start = 0;
        for (int i = 0; i < _held.Count; i++)
        {
            var (step, text) = _held[i];
            if (start + text.Length >= cut)
            {
                var kept = text[..(cut - start)];
                _held.RemoveRange(i, _held.Count - i);
                // A token cut to nothing (the line break itself) is not part of the answer.
                if (kept.Length > 0)
                    _held.Add((step, kept));
                return;
            }
            start += text.Length;
        }
    }

    private int FirstStop(string text)
    {
        int first = -1;
        foreach (var stop in _stops)
        {
            var at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first))
                first = at;
        }
        return first;
    }

    /// <summary>Characters at the end of <paramref name="text"/> that could begin a stop string.</summary>
    private int HeldBack(string text)
    {
        int longest = 0;
        foreach (var stop in _stops)
            for (int n = Math.Min(stop.Length - 1, text.Length); n > longest; n--)
                if (text.AsSpan(text.Length - n).SequenceEqual(stop.AsSpan(0, n)))
                {
                    longest = n;
                    break;
                }
        return longest;
    }
}

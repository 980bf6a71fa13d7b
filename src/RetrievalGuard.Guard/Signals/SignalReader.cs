using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Guard.Prompting;

namespace RetrievalGuard.Guard.Signals;

/// <summary>
/// Reads the watched heads while the model answers a RAG prompt (live) or reads a given answer (teacher-forced), and
/// turns the engine's per-token steps into <see cref="TokenSignal"/>s. Only the watched heads' rows are computed, and
/// only their summaries (top position, mass per segment) leave the device.
/// </summary>
public sealed class SignalReader(LanguageModel model, IReadOnlyList<WatchedHead> heads, RagPromptBuilder prompts)
{
    // Tokens either side of a copy source that make up its "sentence" when no sentence end comes first.
    private const int SourceWindow = 24;

    public LanguageModel Model { get; } = model;

    public IReadOnlyList<WatchedHead> Heads { get; } = heads;

    public RagPromptBuilder Prompts { get; } = prompts;

    /// <summary>A probe on the watched heads for a prompt, reporting top-1 positions and mass per segment.</summary>
    public AttentionProbe CreateProbe(RagPrompt prompt, int queryTokens = 1)
    {
        var probe = new AttentionProbe(Heads.Select(h => h.Head), Model.Config.NumLayers, Model.Config.NumHeads,
            queryTokens) { TopK = 1, KeepRows = false };
        probe.SetSegments(prompt.SegmentOfPosition(), prompt.SegmentCount, prompt.AnswerSegment);
        return probe;
    }

    /// <summary>
    /// A probe for batched live answers: every row labelled with its own prompt's segments
    /// (<see cref="AttentionProbe.SetRowSegments"/>), for prompts of up to <paramref name="maxPassages"/> passages.
    /// </summary>
    public AttentionProbe CreateBatchProbe(int maxPassages) =>
        new(Heads.Select(h => h.Head), Model.Config.NumLayers, Model.Config.NumHeads)
        {
            TopK = 1, KeepRows = false, RowSegmentCount = maxPassages + 2,
        };

    /// <summary>Labels a batch row with <paramref name="prompt"/>'s segments before it is prefilled.</summary>
    public static void LabelRow(AttentionProbe probe, int row, RagPrompt prompt) =>
        probe.SetRowSegments(row, prompt.SegmentOfPosition(), prompt.AnswerSegment);

    /// <summary>Teacher-forced: one pass over prompt + answer; the answer may be anyone's.</summary>
    public AnswerSignals ReadAnswer(RagPrompt prompt, string answer, int prefillChunk = 0) =>
        ReadAnswers(prompt, [answer], prefillChunk)[0];

    /// <summary>Teacher-forced on answer token ids (for the model's own answer, the ids it generated).</summary>
    public AnswerSignals ReadAnswerIds(RagPrompt prompt, IReadOnlyList<int> answerIds, int prefillChunk = 0) =>
        ReadAnswerIds(prompt, [answerIds], prefillChunk)[0];

    /// <summary>Several answers to one prompt: the prompt is read once, each answer from there.</summary>
    public IReadOnlyList<AnswerSignals> ReadAnswers(RagPrompt prompt, IReadOnlyList<string> answers,
        int prefillChunk = 0)
    {
        var answerIds = answers.Select(answer =>
        {
            var (ids, answerStart) = Prompts.WithAnswer(prompt, answer);
            if (answerStart != prompt.Length)
                throw new InvalidOperationException(
                    "The answer merges with the end of the prompt into one token; end the answer cue with a space.");
            return (IReadOnlyList<int>)ids.Skip(answerStart).ToArray();
        }).ToArray();
        return ReadAnswerIds(prompt, answerIds, prefillChunk);
    }

    public IReadOnlyList<AnswerSignals> ReadAnswerIds(RagPrompt prompt, IReadOnlyList<IReadOnlyList<int>> answers,
        int prefillChunk = 0)
    {
        var probes = new List<AttentionProbe>();
        try
        {
            var steps = TeacherForcing.ScoreMany(Model.Network, prompt.Ids, answers, count =>
            {
                var probe = CreateProbe(prompt, count);
                probes.Add(probe);
                return probe;
            }, prefillChunk);
            return steps.Select(s => Assemble(prompt, s)).ToArray();
        }
        finally
        {
            foreach (var probe in probes)
                probe.Dispose();
        }
    }

    /// <summary>Turns engine steps (teacher-forced) for answer tokens into signals with character spans.</summary>
    public AnswerSignals Assemble(RagPrompt prompt, IReadOnlyList<TokenStep> steps)
    {
        var answerIds = steps.Select(s => s.Id).ToArray();
        var (text, spans) = CharacterSpans(answerIds);
        var tokens = steps.Select((step, i) => new TokenSignal(step.Id, step.Position, spans[i].Start, spans[i].End,
            step.LogProb, step.Entropy, Looks(step.Summary))).ToArray();
        return new AnswerSignals(prompt, text, tokens, Heads, position => SentenceAt(prompt, position));
    }

    /// <summary>Signals that grow a token at a time as the model answers (live), in constant work per token.</summary>
    public LiveSignals Live(RagPrompt prompt) => new(this, prompt);

    /// <summary>The growing signals of a live answer: each token's span comes from its streamed text.</summary>
    public sealed class LiveSignals
    {
        private readonly SignalReader _reader;
        private readonly RagPrompt _prompt;
        private readonly List<TokenSignal> _tokens = [];
        private readonly System.Text.StringBuilder _text = new();
        private readonly Dictionary<int, string> _sentences = new();
        private readonly List<Risk.TokenView> _votes = [];

        internal LiveSignals(SignalReader reader, RagPrompt prompt)
        {
            _reader = reader;
            _prompt = prompt;
        }

        public int Count => _tokens.Count;

        /// <summary>Adds one generated token; its text is what the incremental decoder gave for it.</summary>
        public void Add(TokenStep step, string text)
        {
            // The answer starts at its first non-space character, as the teacher-forced reading trims it.
            if (_text.Length == 0)
                text = text.TrimStart();
            var start = _text.Length;
            _text.Append(text);
            _tokens.Add(new TokenSignal(step.Id, step.Position, start, _text.Length, step.LogProb, step.Entropy,
                _reader.Looks(step.Summary, _prompt.SegmentCount)));
            _votes.Add(Risk.TokenView.Of(Signals, _tokens.Count - 1));
        }

        /// <summary>Each token's combined head votes, computed once when it was added.</summary>
        public IReadOnlyList<Risk.TokenView> Votes => _votes;

        /// <summary>The signals so far (a view: later tokens do not change it).</summary>
        public AnswerSignals Signals => new(_prompt, _text.ToString(), _tokens.ToArray(), _reader.Heads, Sentence);

        private string Sentence(int position)
        {
            if (!_sentences.TryGetValue(position, out var sentence))
                _sentences[position] = sentence = _reader.SentenceAt(_prompt, position);
            return sentence;
        }
    }

    /// <summary>
    /// The answer text and each token's character range in it. A token that ends inside a multi-byte character gets
    /// an empty range at the character's start; the token that completes the character covers it.
    /// </summary>
    public (string Text, (int Start, int End)[] Spans) CharacterSpans(IReadOnlyList<int> answerIds)
    {
        var tokenizer = Model.Tokenizer;
        var text = tokenizer.Decode(answerIds.Where(id => !tokenizer.IsSpecial(id)));
        var leading = text.Length - text.TrimStart().Length;
        var spans = new (int Start, int End)[answerIds.Count];
        var end = 0;
        for (var i = 0; i < answerIds.Count; i++)
        {
            var prefix = tokenizer.Decode(answerIds.Take(i + 1).Where(id => !tokenizer.IsSpecial(id)));
            var complete = prefix.EndsWith('\uFFFD') ? prefix.TrimEnd('\uFFFD') : prefix;
            var start = end;
            end = Math.Max(end, Math.Min(complete.Length, text.Length));
            spans[i] = (Math.Max(0, start - leading), Math.Max(0, end - leading));
        }
        return (text[leading..], spans);
    }

    /// <param name="segments">The prompt's segments: a batch probe reports as many as its largest prompt has.</param>
    internal HeadLook[] Looks(AttentionSummary? summary, int? segments = null)
    {
        if (summary is null)
            throw new InvalidOperationException("The probe reported no summary for an answer token.");
        var count = Math.Min(segments ?? summary.Segments, summary.Segments);
        return Enumerable.Range(0, summary.Heads)
            .Select(h => new HeadLook(summary.TopPositions(h)[0], summary.TopWeights(h)[0],
                summary.SegmentMass(h)[..count].ToArray()))
            .ToArray();
    }

    // The passage sentence around a prompt position, from a window of tokens clipped to its passage.
    private string SentenceAt(RagPrompt prompt, int position)
    {
        var passage = prompt.PassageAt(position);
        if (passage < 0)
            return "";
        var range = prompt.PassageTokens[passage];
        var from = Math.Max(range.Start, position - SourceWindow);
        var to = Math.Min(range.End, position + SourceWindow);
        var ids = prompt.Ids;
        var tokenizer = Model.Tokenizer;
        return SentenceAround(tokenizer.Decode(ids.Skip(from).Take(position - from)),
            tokenizer.Decode(ids.Skip(position).Take(to - position)));
    }

    /// <summary>
    /// The sentence that spans the boundary between <paramref name="before"/> and <paramref name="after"/>.
    /// </summary>
    internal static string SentenceAround(string before, string after)
    {
        var start = before.LastIndexOfAny(['.', '!', '?', '\n']);
        var stop = after.IndexOfAny(['.', '!', '?', '\n']);
        return (before[(start + 1)..] + (stop < 0 ? after : after[..(stop + 1)])).Trim();
    }
}

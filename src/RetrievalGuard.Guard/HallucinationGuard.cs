using System.Runtime.CompilerServices;
using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Guard.Prompting;
using RetrievalGuard.Guard.Risk;
using RetrievalGuard.Guard.Signals;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Guard;

/// <summary>How the guard watches and reads.</summary>
public sealed record GuardOptions
{
    /// <summary>Heads to watch, best first; null: the map's retrieval heads (or its top 5% when none passes).</summary>
    public int? Heads { get; init; }

    /// <summary>
    /// Prompt layout; null: the organism's passages format without a chat template, the template with one.
    /// </summary>
    public PromptStyle? Style { get; init; }

    /// <summary>Prompt tokens per prefill pass (0: all at once).</summary>
    public int PrefillChunk { get; init; }
}

/// <summary>
/// One streamed token of a guarded answer, with the risk of the answer so far; the last carries the report.
/// </summary>
public sealed record GuardedToken(int Id, string Text, double RiskSoFar, GuardReport? Report = null)
{
    /// <summary>The model's log-probability of the token (natural log).</summary>
    public float LogProb { get; init; }

    /// <summary>On the last token: why the answer ended (<see cref="Serving.FinishReason"/>); null before.</summary>
    public Serving.FinishReason? Finish { get; init; }
}

/// <summary>
/// The hallucination guard for one model: it watches the model's retrieval heads (from a head map) while the model
/// answers a RAG prompt (<see cref="AskAsync"/>) or reads anyone's answer (<see cref="Score"/>), and reports a
/// calibrated risk, flagged spans and the passages each sentence drew on. The model serves one request at a time: the
/// asynchronous entry points (<see cref="ScoreAsync"/>, <see cref="AskAsync"/>, <see cref="UseModelAsync"/>) queue
/// for it, so adapters that share a guard never run the model twice at once.
/// </summary>
public sealed class HallucinationGuard
{
    private readonly SemaphoreSlim _model = new(1, 1);

    public HallucinationGuard(LanguageModel model, HeadMap map, GuardCalibration? calibration,
        GuardOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(map);
        options ??= new GuardOptions();
        Model = model;
        Map = map;
        Calibration = calibration;
        Options = options;
        Heads = WatchedHeads(map, model.Config.NumLayers * model.Config.NumHeads, options.Heads);
        Prompts = options.Style is { } style
            ? new RagPromptBuilder(model.Tokenizer, style)
            : RagPromptBuilder.For(model.Tokenizer);
        Reader = new SignalReader(model, Heads, Prompts);
        Assessor = new RiskAssessor(calibration?.Guard, calibration?.Threshold ?? 0.5);
    }

    public LanguageModel Model { get; }

    public HeadMap Map { get; }

    public GuardCalibration? Calibration { get; }

    public GuardOptions Options { get; }

    public IReadOnlyList<WatchedHead> Heads { get; }

    public RagPromptBuilder Prompts { get; }

    public SignalReader Reader { get; }

    public RiskAssessor Assessor { get; }

    /// <summary>
    /// The guard for a loaded model: its head map (given, or found by fingerprint like `rguard heads` does) and its
    /// calibration (given, or a <c>*.calibration.json</c> with its fingerprint beside the maps; without one, risks are
    /// NaN and only signals, spans and attribution are reported).
    /// </summary>
    public static HallucinationGuard ForModel(LanguageModel model, string? mapPath = null,
        string? calibrationPath = null, GuardOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var fingerprint = ModelFingerprint.Compute(model.Directory);
        HeadMap map;
        if (mapPath is not null)
        {
            map = HeadMap.Load(mapPath);
            map.EnsureFits(model.Config, fingerprint, mapPath);
        }
        else
        {
            map = HeadMapCatalog.FindFor(model.Directory)
                ?? throw new FileNotFoundException(HeadMapCatalog.NotFoundMessage(model.Directory));
        }
        GuardCalibration? calibration = null;
        if (calibrationPath is not null)
        {
            calibration = GuardCalibration.Load(calibrationPath);
            calibration.EnsureFits(model.Config, fingerprint, calibrationPath);
        }
        else if (GuardCalibration.FindFor(model.Directory, fingerprint) is { } found)
        {
            calibration = found.Calibration;
        }
        return new HallucinationGuard(model, map, calibration, options);
    }

    public RagPrompt Prompt(IReadOnlyList<Passage> passages, string question) => Prompts.Build(passages, question);

    /// <summary>
    /// Teacher-forced: the risk of an answer written by anyone, read in one pass over prompt + answer.
    /// </summary>
    public GuardReport Score(IReadOnlyList<Passage> passages, string question, string answer) =>
        Assessor.Assess(Reader.ReadAnswer(Prompt(passages, question), answer, Options.PrefillChunk));

    /// <summary><see cref="Score"/> off the caller's thread, queued behind other requests for the model.</summary>
    public async Task<GuardReport> ScoreAsync(IReadOnlyList<Passage> passages, string question, string answer,
        CancellationToken cancellationToken = default)
    {
        using var turn = await UseModelAsync(cancellationToken).ConfigureAwait(false);
        return await Task.Run(() => Score(passages, question, answer), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Waits for the model and holds it until the returned handle is disposed: for callers that run the model
    /// directly (a plain chat without passages) beside the guard.
    /// </summary>
    public async Task<IDisposable> UseModelAsync(CancellationToken cancellationToken = default)
    {
        await _model.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new Turn(_model);
    }

    private sealed class Turn(SemaphoreSlim gate) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
                gate.Release();
        }
    }

    /// <summary>
    /// Live: the model answers, streaming tokens with the risk so far; the last token carries the report. Answers in
    /// the passages layout end at the first line break (the organism answers in one line).
    /// </summary>
    /// <param name="maxTokens">Most answer tokens; capped at the positions the model has left after the prompt.</param>
    /// <param name="stopTokens">Tokens that end the answer; the tokenizer's when null.</param>
    /// <param name="cache">
    /// The KV cache policy of this answer (null or full: the model's reusable cache). A compressed one
    /// (<see cref="CacheKind.HeadAware"/>, …) is made for the answer and freed after it; the watched heads read it
    /// as they read the full one.
    /// </param>
    public async IAsyncEnumerable<GuardedToken> AskAsync(IReadOnlyList<Passage> passages, string question,
        int maxTokens = 128, IReadOnlyCollection<int>? stopTokens = null, KvCachePolicy? cache = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        using var turn = await UseModelAsync(cancellationToken).ConfigureAwait(false);
        var prompt = Prompt(passages, question);
        var room = Model.Config.MaxPositionEmbeddings - prompt.Length;
        if (room <= 0)
            throw new ContextLengthException(
                $"The passages and question take {prompt.Length} tokens; the model has "
                + $"{Model.Config.MaxPositionEmbeddings} positions.",
                prompt.Length, Model.Config.MaxPositionEmbeddings);
        using var probe = Reader.CreateProbe(prompt);
        var options = new GenerationOptions
        {
            MaxNewTokens = Math.Min(maxTokens, room),
            Probe = probe,
            PrefillChunk = Options.PrefillChunk,
            StopTokenIds = stopTokens,
        };
        var live = Reader.Live(prompt);
        var text = "";
        GuardedToken? pending = null;
        using var compressed = cache is null || cache.Kind == CacheKind.Full
            ? null
            : Model.CreateCache(cache, prompt.Length + options.MaxNewTokens);
        await foreach (var token in Model.GenerateAsync(prompt.Ids, options, compressed, cancellationToken))
        {
            var endsLine = Prompts.Style == PromptStyle.Passages && (text + token.Text).Contains('\n');
            if (token.IsStop || endsLine)
                break;
            if (pending is not null)
                yield return pending;
            live.Add(new TokenStep(token.Id, token.Position, token.LogProb, token.Entropy, false, null, token.Summary),
                token.Text);
            text += token.Text;
            pending = new GuardedToken(token.Id, token.Text, Assessor.RiskSoFar(live.Signals, live.Votes));
        }
        var report = Assessor.Assess(live.Signals);
        yield return (pending ?? new GuardedToken(-1, "", report.Risk)) with
        {
            RiskSoFar = report.Risk,
            Report = report,
        };
    }

    /// <summary>The heads the guard watches: best first, weighted by their map scores.</summary>
    public static IReadOnlyList<WatchedHead> WatchedHeads(HeadMap map, int totalHeads, int? count = null)
    {
        var group = map.Model.Heads / Math.Max(1, map.Model.KvHeads);
        var ranked = map.Ranked()
            .SelectMany(h => map.Granularity == HeadGranularity.QueryHead
                ? [(Head: new HeadIndex(h.Layer, h.Head), h.Score)]
                : Enumerable.Range(h.Head * group, group).Select(q => (Head: new HeadIndex(h.Layer, q), h.Score)))
            .ToArray();
        var take = count
            ?? Math.Max(1, map.RetrievalHeads.Count * (map.Granularity == HeadGranularity.QueryHead ? 1 : group));
        if (count is null && map.RetrievalHeads.Count == 0)
            take = Math.Max(1, totalHeads / 20);
        var chosen = ranked.Take(take).ToArray();
        var total = chosen.Sum(h => Math.Max(h.Score, 0));
        return chosen
            .Select(h => new WatchedHead(h.Head, total > 0 ? Math.Max(h.Score, 0) / total : 1.0 / chosen.Length))
            .ToArray();
    }
}

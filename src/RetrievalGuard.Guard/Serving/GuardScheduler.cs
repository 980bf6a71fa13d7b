using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Guard.Signals;

namespace RetrievalGuard.Guard.Serving;

/// <summary>
/// Serves many answers at once over one <see cref="BatchDecoder"/> (continuous batching): requests wait in a bounded
/// queue, join the batch as rows free up (their prompts prefilled into a row), and every step decodes one token for
/// all of them. Guarded answers are watched per row (one probe labels each row with its own passages) and stream
/// like <see cref="HallucinationGuard.AskAsync"/>; answers without passages are plain chat replies. One thread drives
/// the decoder and takes the guard's model turn for each step, so <see cref="HallucinationGuard.ScoreAsync"/> calls
/// run between steps. A request whose reader stops (cancelled, disposed) leaves the batch before the next step.
/// Each KV cache policy offered (<see cref="SchedulerOptions.Cache"/>, then <see cref="SchedulerOptions.MoreCaches"/>)
/// has rows of its own, since a preallocated cache has one layout; a request picks one with
/// <see cref="AnswerRequest.Cache"/>.
/// </summary>
public sealed class GuardScheduler : IAsyncDisposable
{
    private readonly HallucinationGuard _guard;
    private readonly CacheLane[] _lanes;
    private readonly SemaphoreSlim _wake = new(0);
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _thread;
    private int _queued;
    private int _active;
    private long _tokens;
    private volatile bool _stopping;
    private volatile bool _abandon;

    public GuardScheduler(HallucinationGuard guard, SchedulerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(guard);
        options ??= new SchedulerOptions();
        options.Validate();
        _guard = guard;
        Options = options;
        var context = guard.Model.Config.MaxPositionEmbeddings;
        CapacityPerSequence = options.CapacityPerSequence > 0
            ? Math.Min(options.CapacityPerSequence, context)
            : Math.Min(context, 4096);
        var policies = options.Policies;
        var lanes = new List<CacheLane>();
        try
        {
            foreach (var policy in policies)
            {
                var decoder = guard.Model.CreateBatchDecoder(
                    Rows(guard, options, policy, options.KvBudgetBytes / policies.Count, CapacityPerSequence),
                    CapacityPerSequence, policy);
                decoder.BatchesPrefills = options.BatchPrefills ?? decoder.BatchesPrefills;
                try
                {
                    lanes.Add(new CacheLane(decoder, guard.Reader.CreateBatchProbe(options.MaxPassages)));
                }
                catch
                {
                    decoder.Dispose();
                    throw;
                }
            }
        }
        catch
        {
            lanes.ForEach(l => l.Dispose());
            throw;
        }
        _lanes = [.. lanes];
        _thread = new Thread(Run) { IsBackground = true, Name = "RetrievalGuard scheduler" };
        _thread.Start();
    }

    /// <summary>MaxSequences, or as many rows as <paramref name="budget"/> holds under the cache policy.</summary>
    private static int Rows(HallucinationGuard guard, SchedulerOptions options, KvCachePolicy policy, long budget,
        int capacity)
    {
        if (options.KvBudgetBytes == 0)
            return options.MaxSequences;
        int rows = BatchDecoder.SequencesWithin(budget, guard.Model.Network, policy, capacity);
        return rows >= 1 ? rows : throw new ArgumentOutOfRangeException(nameof(options), options.KvBudgetBytes,
            $"A KV budget of {budget / 1048576.0:F1} MiB holds no answer's row: one of {capacity} "
            + $"positions takes {BatchDecoder.BytesPerSequence(guard.Model.Network, policy, capacity) / 1048576.0:F1} "
            + $"MiB under the {policy} cache"
            + (options.Policies.Count > 1 ? $" (the budget is shared by {options.Policies.Count} policies)." : "."));
    }

    public SchedulerOptions Options { get; }

    /// <summary>Answers decoded together: rows of the KV caches.</summary>
    public int MaxSequences => _lanes.Sum(l => l.Decoder.MaxSequences);

    /// <summary>The KV cache policy of a request that names none.</summary>
    public KvCachePolicy Cache => _lanes[0].Policy;

    /// <summary>Every policy a request may ask for, the default first, with the rows each has.</summary>
    public IReadOnlyList<(KvCachePolicy Policy, int Rows)> Caches =>
        _lanes.Select(l => (l.Policy, l.Decoder.MaxSequences)).ToArray();

    /// <summary>Positions each answer's row holds: its prompt plus its answer must fit.</summary>
    public int CapacityPerSequence { get; }

    /// <summary>Answers being decoded now.</summary>
    public int Active => Volatile.Read(ref _active);

    /// <summary>Requests waiting for a row.</summary>
    public int Queued => Volatile.Read(ref _queued);

    /// <summary>Bytes of KV cache held on the device (preallocated for every row).</summary>
    public long CacheBytes => _lanes.Sum(l => l.Decoder.CacheBytes);

    /// <summary>Tokens decoded since the scheduler started, every answer together.</summary>
    public long TokensGenerated => Interlocked.Read(ref _tokens);

    /// <summary>
    /// Queues <paramref name="request"/> and returns its stream of tokens; the last carries the report (guarded) and
    /// <see cref="GuardedToken.Finish"/>. Throws at once for a request that cannot run (empty, too long, too many
    /// passages, a cache policy not offered) and <see cref="SchedulerFullException"/> when the queue is full. Stop
    /// reading (or cancel) to abandon
    /// the answer: its row is freed before the next step.
    /// </summary>
    public IAsyncEnumerable<GuardedToken> Submit(AnswerRequest request,
        CancellationToken cancellationToken = default) => Submit(request, out _, cancellationToken);

    /// <inheritdoc cref="Submit(AnswerRequest, CancellationToken)"/>
    /// <param name="promptTokens">The prompt's length in tokens (for usage reports).</param>
    public IAsyncEnumerable<GuardedToken> Submit(AnswerRequest request, out int promptTokens,
        CancellationToken cancellationToken = default)
    {
        if (_stopping)
            throw new ObjectDisposedException(nameof(GuardScheduler), "The scheduler is shutting down.");
        // Refuse a full queue before tokenizing: under a burst, refusals must stay cheap.
        if (Queued >= Options.MaxQueued + FreeRowsHint())
            throw Full(Queued);
        var lane = Lane(request);
        var answer = Prepare(request);
        if (Interlocked.Increment(ref _queued) > Options.MaxQueued + FreeRowsHint())
            throw Full(Interlocked.Decrement(ref _queued));
        promptTokens = answer.Ids.Count;
        lane.Queue.Enqueue(answer);
        _wake.Release();
        return Read(answer, cancellationToken);
    }

    private static SchedulerFullException Full(int waiting) => new(waiting, TimeSpan.FromSeconds(1));

    private int FreeRowsHint() => Math.Max(0, MaxSequences - Active);

    private CacheLane Lane(AnswerRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Cache is not CacheKind kind)
            return _lanes[0];
        return _lanes.FirstOrDefault(l => l.Policy.Kind == kind) ?? throw new UnsupportedCacheException(kind,
            _lanes.Select(l => l.Policy.Kind).ToArray());
    }

    private ScheduledAnswer Prepare(AnswerRequest request)
    {
        if (request.MaxTokens < 1)
            throw new ArgumentOutOfRangeException(nameof(request), request.MaxTokens, "MaxTokens must be ≥ 1.");
        if (request.Stop.Any(string.IsNullOrEmpty))
            throw new ArgumentException("Stop strings must not be empty.", nameof(request));
        var tokenizer = _guard.Model.Tokenizer;
        Prompting.RagPrompt? prompt = null;
        IReadOnlyList<int> ids;
        if (request.IsGuarded)
        {
            if (string.IsNullOrWhiteSpace(request.Question))
                throw new ArgumentException("A guarded request needs a question beside its passages.", nameof(request));
            if (request.Passages.Count > Options.MaxPassages)
                throw new ArgumentException(
                    $"{request.Passages.Count} passages; this server takes at most {Options.MaxPassages}.",
                    nameof(request));
            prompt = _guard.Prompt(request.Passages, request.Question);
            ids = prompt.Ids;
        }
        else
        {
            if (request.Turns.Count == 0)
                throw new ArgumentException("A request needs passages and a question, or chat turns.", nameof(request));
            ids = tokenizer.EncodeChat(request.Turns);
        }
        var room = CapacityPerSequence - ids.Count;
        if (room < 1)
            throw new PromptTooLongException(ids.Count, CapacityPerSequence);
        var options = new GenerationOptions
        {
            MaxNewTokens = Math.Min(request.MaxTokens, room),
            Temperature = request.Temperature,
            TopP = request.TopP,
            Seed = request.Seed,
        };
        options.Validate();
        return new ScheduledAnswer(_guard, ids, prompt, options, request.Stop);
    }

    private static async IAsyncEnumerable<GuardedToken> Read(ScheduledAnswer answer,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var token in answer.Output.ReadAllAsync(cancellationToken).ConfigureAwait(false))
                yield return token;
        }
        finally
        {
            // Reached on completion, cancellation or a reader that stopped early: a no-op for a finished answer.
            answer.Cancel();
        }
    }

    private void Run()
    {
        try
        {
            Loop();
        }
        catch (Exception error)
        {
            // Not expected (requests fail one by one above); never leave a reader waiting on a dead thread.
            _stopping = true;
            foreach (var answer in _lanes.SelectMany(l => l.Running.Values.Concat(l.Queue)))
                answer.Fail(error);
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }

    private void Loop()
    {
        while (true)
        {
            if (_lanes.All(l => l.IsIdle))
            {
                if (_stopping)
                    break;
                _wake.Wait(TimeSpan.FromMilliseconds(200));
                continue;
            }
            foreach (var lane in _lanes.Where(l => !l.IsIdle))
                using (_guard.UseModelAsync().GetAwaiter().GetResult())
                {
                    DropCancelled(lane);
                    Admit(lane);
                    Step(lane);
                }
        }
    }

    private void DropCancelled(CacheLane lane)
    {
        foreach (var answer in lane.Running.Values.Where(a => a.IsCancelled || _abandon).ToArray())
            Finish(lane, answer, new OperationCanceledException("The answer was abandoned before it finished."));
    }

    /// <summary>Takes as many waiting requests as the lane has free rows and joins them together
    /// (<see cref="BatchDecoder.JoinAll"/>: one batched prefill instead of one per request).</summary>
    private void Admit(CacheLane lane)
    {
        var rows = lane.Decoder.FreeRows;
        var joining = new List<ScheduledAnswer>();
        while (joining.Count < rows.Count && lane.Queue.TryDequeue(out var answer))
        {
            Interlocked.Decrement(ref _queued);
            if (answer.IsCancelled || _abandon)
                answer.Fail(new OperationCanceledException("The answer was abandoned before it started."));
            else
                joining.Add(answer);
        }
        if (joining.Count == 0)
            return;
        IReadOnlyList<(BatchSequence Sequence, TokenStep First)> joined;
        try
        {
            for (int i = 0; i < joining.Count; i++)
                if (joining[i].Prompt is { } prompt)
                    SignalReader.LabelRow(lane.Probe, rows[i], prompt);
            var stops = _guard.Model.Tokenizer.StopTokenIds;
            joined = lane.Decoder.JoinAll(joining.Select(a => new JoinRequest(a.Ids, a.Options, stops)).ToArray(),
                lane.Probe);
        }
        catch (Exception error)
        {
            foreach (var answer in joining)
                answer.Fail(error);
            return;
        }
        for (int i = 0; i < joining.Count; i++)
        {
            var (answer, (sequence, first)) = (joining[i], joined[i]);
            answer.Sequence = sequence;
            lane.Running.Add(sequence, answer);
            Interlocked.Increment(ref _active);
            Interlocked.Increment(ref _tokens);
            try
            {
                if (answer.Accept(first, sequence.Finished))
                    Finish(lane, answer);
            }
            catch (Exception error)
            {
                Finish(lane, answer, error);
            }
        }
    }

    private void Step(CacheLane lane)
    {
        if (lane.Running.Count == 0)
            return;
        IReadOnlyList<(BatchSequence Sequence, TokenStep Step)> steps;
        try
        {
            steps = lane.Decoder.Step(lane.Probe);
        }
        catch (Exception error)
        {
            // A failed step leaves every row of the lane in an unknown state: end them all, keep serving the queue.
            foreach (var answer in lane.Running.Values.ToArray())
                Finish(lane, answer, error);
            return;
        }
        Interlocked.Add(ref _tokens, steps.Count);
        var answers = steps.Select(s => lane.Running[s.Sequence]).ToArray();
        var ended = new bool[steps.Count];
        var errors = new Exception?[steps.Count];
        // Each answer's guard work (its text, signals and risk so far) touches only that answer, so the rows are read
        // in parallel: the host's share of a step then does not grow with the rows while the device waits. The
        // decoder and the running set are changed afterwards, on this thread.
        Parallel.For(0, steps.Count, i =>
        {
            try
            {
                ended[i] = answers[i].Accept(steps[i].Step, steps[i].Sequence.Finished);
            }
            catch (Exception error)
            {
                errors[i] = error;
            }
        });
        for (int i = 0; i < steps.Count; i++)
            if (ended[i] || errors[i] is not null)
                Finish(lane, answers[i], errors[i]);
    }

    /// <summary>
    /// Frees an ended answer's row, then closes its stream: with its last token, or with <paramref name="error"/>.
    /// The row goes first, so a client that sees its answer end finds the scheduler's counts already updated.
    /// </summary>
    private void Finish(CacheLane lane, ScheduledAnswer answer, Exception? error = null)
    {
        lane.Decoder.Leave(answer.Sequence!);
        if (lane.Running.Remove(answer.Sequence!))
            Interlocked.Decrement(ref _active);
        if (error is null)
            answer.Complete();
        else
            answer.Fail(error);
    }

    /// <summary>
    /// Stops taking requests and lets the queued and running answers finish (a graceful shutdown); when
    /// <paramref name="cancellationToken"/> fires first, the rest are abandoned.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        _stopping = true;
        _wake.Release();
        using (cancellationToken.Register(() =>
               {
                   _abandon = true;
                   _wake.Release();
               }))
            await _stopped.Task.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(new CancellationToken(canceled: true)).ConfigureAwait(false);
        _thread.Join();
        foreach (var lane in _lanes)
            lane.Dispose();
        _wake.Dispose();
    }
}

using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Probes;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Generation;

/// <summary>A sequence being decoded by a <see cref="BatchDecoder"/>.</summary>
public sealed class BatchSequence
{
    private readonly List<int> _generated = new();

    internal BatchSequence(int row, IReadOnlyList<int> prompt, GenerationOptions options, HashSet<int> stops,
        Generator? generator)
    {
        (Row, PromptLength, Options, Stops, Generator) = (row, prompt.Count, options, stops, generator);
    }

    /// <summary>The storage row it occupies while active.</summary>
    public int Row { get; }
    public int PromptLength { get; }
    public GenerationOptions Options { get; }
    public IReadOnlyList<int> Generated => _generated;

    /// <summary>True after a stop token or MaxNewTokens; the sequence has then left the batch.</summary>
    public bool Finished { get; internal set; }

    internal HashSet<int> Stops { get; }
    internal Generator? Generator { get; }
    internal int NextPosition => PromptLength + _generated.Count - 1;

    internal bool Add(TokenStep step)
    {
        _generated.Add(step.Id);
        return step.IsStop || _generated.Count >= Options.MaxNewTokens;
    }
}

/// <summary>A prompt that joins a <see cref="BatchDecoder"/> (<see cref="BatchDecoder.JoinAll"/>).</summary>
public readonly record struct JoinRequest(IReadOnlyList<int> Prompt, GenerationOptions Options,
    IReadOnlyCollection<int> StopTokenIds);

/// <summary>
/// Continuous batching for concurrent requests (the server's path). Each sequence owns a row of one preallocated
/// storage, full (<see cref="KvStorage"/>) or compressed under a <see cref="KvCachePolicy"/>
/// (<see cref="HeadAwareKvStorage"/>: more rows in the same bytes); a request joins between steps (its prompt is
/// prefilled into a free row) and leaves when it stops, and every <see cref="Step"/> decodes one token for all
/// active sequences in one batched forward pass (replayed from CUDA graphs on a GPU). Not thread-safe: one scheduler
/// thread drives it.
/// </summary>
public sealed class BatchDecoder : IDisposable
{
    private readonly LlamaModel _model;
    private readonly IBatchKvStorage _storage;
    private readonly BatchSequence?[] _rows;

    /// <param name="policy">The KV cache every row uses; null or full: every position of every KV head.</param>
    public BatchDecoder(LlamaModel model, int maxSequences, int capacityPerSequence, KvCachePolicy? policy = null)
    {
        if (maxSequences < 1)
            throw new ArgumentOutOfRangeException(nameof(maxSequences), maxSequences, "At least one sequence.");
        _model = model;
        var c = model.Config;
        Policy = policy ?? KvCachePolicy.Full;
        _storage = Policy.Kind == CacheKind.Full
            ? new KvStorage(c.NumLayers, maxSequences, c.NumKvHeads, c.HeadDim, capacityPerSequence, model.DType,
                model.Device)
            : new HeadAwareKvStorage(c, Policy, maxSequences, capacityPerSequence, model.DType, model.Device);
        _rows = new BatchSequence?[maxSequences];
        BatchesPrefills = model.Device.type == DeviceType.CUDA;
    }

    /// <summary>
    /// Bytes of KV cache one sequence's row holds for <paramref name="model"/> under <paramref name="policy"/> at
    /// <paramref name="capacityPerSequence"/> positions, without allocating: a budget divided by it is how many
    /// sequences fit (<see cref="SequencesWithin"/>).
    /// </summary>
    public static long BytesPerSequence(LlamaModel model, KvCachePolicy policy, int capacityPerSequence) =>
        BytesPerSequence(model.Config, model.DType, model.Device.type, policy, capacityPerSequence);

    /// <summary>The same for a model not loaded: its config, dtype and device kind (for planning).</summary>
    public static long BytesPerSequence(ModelConfig config, ScalarType dtype, DeviceType device, KvCachePolicy policy,
        int capacityPerSequence) => policy.Kind == CacheKind.Full
        ? KvStorage.BytesPerRow(config.NumLayers, config.NumKvHeads, config.HeadDim, capacityPerSequence, dtype,
            device)
        : HeadAwareKvStorage.BytesPerRow(config, policy, capacityPerSequence, dtype, device);

    /// <summary>How many sequences of <paramref name="capacityPerSequence"/> positions a KV budget holds.</summary>
    public static int SequencesWithin(long budgetBytes, LlamaModel model, KvCachePolicy policy,
        int capacityPerSequence) =>
        (int)Math.Min(int.MaxValue, budgetBytes / BytesPerSequence(model, policy, capacityPerSequence));

    public KvCachePolicy Policy { get; }
    public int MaxSequences => _rows.Length;
    public int CapacityPerSequence => _storage.Capacity;
    public int Active => _rows.Count(r => r is not null);
    public bool HasFreeRow => _rows.Any(r => r is null);

    /// <summary>The row the next <see cref="Join"/> takes (the lowest free one), or null when all are busy.</summary>
    public int? FreeRow => Array.IndexOf(_rows, null) is var row and >= 0 ? row : null;

    /// <summary>The free rows, lowest first: the rows <see cref="JoinAll"/> gives its requests, in order.</summary>
    public IReadOnlyList<int> FreeRows => Enumerable.Range(0, _rows.Length).Where(r => _rows[r] is null).ToArray();

    /// <summary>Bytes of KV cache held on the device (every row's, preallocated).</summary>
    public long CacheBytes => _storage.SizeInBytes;

    /// <summary>True when steps replay CUDA graphs.</summary>
    public bool UsesGraphs => DecodeRunner.For(_model, _storage).UsesGraphs;

    /// <summary>
    /// Prefills <paramref name="prompt"/> into the lowest free row (<see cref="FreeRow"/>) and returns the sequence
    /// with its first token (which may already finish it). With a <paramref name="probe"/> (the one later passed to
    /// <see cref="Step"/>) the first token's summary is reported too, with the row's labels if the probe has them.
    /// </summary>
    public (BatchSequence Sequence, TokenStep First) Join(IReadOnlyList<int> prompt, GenerationOptions options,
        IReadOnlyCollection<int> stopTokenIds, AttentionProbe? probe = null)
    {
        Check(prompt, options);
        int row = Array.IndexOf(_rows, null);
        if (row < 0)
            throw new InvalidOperationException($"All {MaxSequences} rows are busy: wait for a sequence to finish.");
        var sequence = NewSequence(row, new JoinRequest(prompt, options, stopTokenIds));
        TokenStep first;
        using (var rowCache = _storage.RowCache(row))
            first = TokenGenerator.Prefill(_model, prompt, rowCache,
                probe is null ? options : options with { Probe = probe }, sequence.Generator, segmentRow: row);
        return Admit(sequence, first with { IsStop = sequence.Stops.Contains(first.Id) });
    }

    /// <summary>
    /// Joins several prompts at once, into <see cref="FreeRows"/> in order. Their prompts but the last token are
    /// prefilled together in batched passes, prompts of similar length in one (right-padded, at most
    /// <see cref="MaxPaddingShare"/> of a pass padding: what a shorter row's padding writes past its length, its own
    /// decode steps overwrite before anything attends to it); then one decode step feeds every last token and
    /// gives each sequence its first token (with a <paramref name="probe"/>, its summary from the row's labels). On a
    /// GPU that replaces one batch-1 prefill per request. They join one by one, as with <see cref="Join"/>, when
    /// <see cref="BatchesPrefills"/> is off and under a compressed policy (<see cref="HeadAwareKvStorage"/> keeps a
    /// ring per row). Every request is checked before any row is taken.
    /// </summary>
    public IReadOnlyList<(BatchSequence Sequence, TokenStep First)> JoinAll(IReadOnlyList<JoinRequest> requests,
        AttentionProbe? probe = null)
    {
        foreach (var request in requests)
            Check(request.Prompt, request.Options);
        var rows = FreeRows;
        if (requests.Count > rows.Count)
            throw new InvalidOperationException($"{requests.Count} requests to join but {rows.Count} free rows.");
        if (requests.Count == 0)
            return [];
        if (_storage is not KvStorage storage || !BatchesPrefills)
            return requests.Select(r => Join(r.Prompt, r.Options, r.StopTokenIds, probe)).ToArray();
        var sequences = requests.Select((r, i) => NewSequence(rows[i], r)).ToArray();
        try
        {
            PrefillAllButLast(storage, requests, sequences);
            var results = DecodeRunner.For(_model, _storage).Step(requests.Select((r, i) => new DecodeRequest(
                sequences[i].Row, r.Prompt[^1], r.Prompt.Count - 1, r.Options, sequences[i].Generator)).ToArray(),
                probe);
            return sequences.Select((s, i) => Admit(s, new TokenStep(results[i].Token, s.PromptLength,
                results[i].LogProb, results[i].Entropy, s.Stops.Contains(results[i].Token), results[i].Attention,
                results[i].Summary))).ToArray();
        }
        catch
        {
            foreach (var s in sequences.Where(s => !ReferenceEquals(_rows[s.Row], s)))
                s.Generator?.Dispose();
            throw;
        }
    }

    /// <summary>The most of a batched prefill that may be padding: longer and shorter prompts then go in separate
    /// passes (padding is compute spent on nothing; on a CPU, where prefill is compute-bound, it is all loss).
    /// </summary>
    public const double MaxPaddingShare = 0.1;

    /// <summary>
    /// Whether <see cref="JoinAll"/> prefills joining prompts together; by default on CUDA only. A CPU's prefill is
    /// compute-bound: there a batched pass measured no faster than the same prompts one by one (0.78–1.02× end to end,
    /// benchmarks/results/batch-join-cpu-2026-12-03), while a GPU runs a short batch-1 prefill far below its
    /// throughput.
    /// </summary>
    public bool BatchesPrefills { get; set; }

    /// <summary>
    /// Tokens one batched prefill pass may hold (padding counted) before the next prompts go in another pass: it bounds
    /// a pass's activation memory, as vLLM's max_num_batched_tokens does. A longer prompt still gets a pass of its own.
    /// </summary>
    public int PassTokens { get; init; } = 4096;

    /// <summary>Every prompt but its last token, in passes of similar lengths (<see cref="MaxPaddingShare"/>).
    /// </summary>
    private void PrefillAllButLast(KvStorage storage, IReadOnlyList<JoinRequest> requests,
        BatchSequence[] sequences)
    {
        int Prefix(int i) => requests[i].Prompt.Count - 1;
        var group = new List<int>();
        long real = 0;
        // Longest first, so a group's first prompt sets its padded width.
        foreach (int i in Enumerable.Range(0, requests.Count).Where(i => Prefix(i) > 0).OrderByDescending(Prefix))
        {
            long padded = (group.Count + 1L) * (group.Count == 0 ? Prefix(i) : Prefix(group[0]));
            if (group.Count > 0 && (padded - real - Prefix(i) > MaxPaddingShare * padded || padded > PassTokens))
            {
                Prefill(storage, requests, sequences, group);
                (group, real) = ([], 0);
            }
            group.Add(i);
            real += Prefix(i);
        }
        if (group.Count > 0)
            Prefill(storage, requests, sequences, group);
    }

    /// <summary>One batched pass (chunked by the smallest PrefillChunk asked) over the prompts
    /// <paramref name="prefilled"/> but their last tokens.</summary>
    private void Prefill(KvStorage storage, IReadOnlyList<JoinRequest> requests, BatchSequence[] sequences,
        IReadOnlyList<int> prefilled)
    {
        int longest = prefilled.Max(i => requests[i].Prompt.Count - 1);
        var ids = new long[prefilled.Count * longest];
        for (int j = 0; j < prefilled.Count; j++)
        {
            var prompt = requests[prefilled[j]].Prompt;
            for (int t = 0; t < prompt.Count - 1; t++)
                ids[j * longest + t] = prompt[t];
        }
        int chunk = prefilled.Select(i => requests[i].Options.PrefillChunk).Where(c => c > 0)
            .DefaultIfEmpty(longest).Min();
        using var cache = new KvRowsCache(storage, prefilled.Select(i => sequences[i].Row).ToArray());
        using var noGrad = no_grad();
        using var all = tensor(ids, [prefilled.Count, longest], int64, _model.Device);
        for (int from = 0; from < longest; from += chunk)
        {
            using var scope = NewDisposeScope();
            _model.forward(all.narrow(1, from, Math.Min(chunk, longest - from)),
                new ForwardOptions { Cache = cache, StartPosition = from, LogitsToKeep = 1 });
        }
    }

    private void Check(IReadOnlyList<int> prompt, GenerationOptions options)
    {
        TokenGenerator.ValidateRequest(_model, prompt, options);
        if (options.MaxNewTokens < 1)
            throw new ArgumentOutOfRangeException(nameof(options), "A batched request makes at least one token.");
        if (options.Probe is not null || options.HeadMask is not null)
            throw new NotSupportedException(
                "Probes and head masks are per batch, not per request: pass them to Join and Step.");
        if (prompt.Count + options.MaxNewTokens > _storage.Capacity)
            throw new ArgumentException($"Prompt ({prompt.Count} tokens) + {options.MaxNewTokens} new tokens exceed "
                + $"the per-sequence capacity {_storage.Capacity}.");
    }

    private static BatchSequence NewSequence(int row, JoinRequest request) => new(row, request.Prompt,
        request.Options, request.StopTokenIds.ToHashSet(),
        request.Options.Temperature > 0 ? new Generator((ulong)request.Options.Seed) : null);

    /// <summary>Takes the row for <paramref name="sequence"/> with its first token (which may finish it).</summary>
    private (BatchSequence Sequence, TokenStep First) Admit(BatchSequence sequence, TokenStep first)
    {
        _rows[sequence.Row] = sequence;
        if (sequence.Add(first)) Finish(sequence);
        return (sequence, first);
    }

    /// <summary>One token for every active sequence; finished sequences leave the batch.</summary>
    public IReadOnlyList<(BatchSequence Sequence, TokenStep Step)> Step(AttentionProbe? probe = null,
        HeadMask? headMask = null)
    {
        var active = _rows.Where(r => r is not null).Select(r => r!).ToList();
        if (active.Count == 0) return [];
        var requests = active
            .Select(s => new DecodeRequest(s.Row, s.Generated[^1], s.NextPosition, s.Options, s.Generator)).ToList();
        var results = DecodeRunner.For(_model, _storage).Step(requests, probe, headMask);
        var steps = new List<(BatchSequence, TokenStep)>(active.Count);
        for (int i = 0; i < active.Count; i++)
        {
            var s = active[i];
            var r = results[i];
            var step = new TokenStep(r.Token, s.NextPosition + 1, r.LogProb, r.Entropy, s.Stops.Contains(r.Token),
                r.Attention, r.Summary);
            if (s.Add(step)) Finish(s);
            steps.Add((s, step));
        }
        return steps;
    }

    /// <summary>Removes a sequence before it finishes (a cancelled request).</summary>
    public void Leave(BatchSequence sequence)
    {
        if (!sequence.Finished) Finish(sequence);
    }

    private void Finish(BatchSequence sequence)
    {
        sequence.Finished = true;
        sequence.Generator?.Dispose();
        if (ReferenceEquals(_rows[sequence.Row], sequence)) _rows[sequence.Row] = null;
    }

    public void Dispose()
    {
        foreach (var s in _rows) s?.Generator?.Dispose();
        _storage.Dispose();
    }
}

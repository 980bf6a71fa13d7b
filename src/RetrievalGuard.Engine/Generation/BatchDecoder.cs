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
        TokenGenerator.ValidateRequest(_model, prompt, options);
        if (options.MaxNewTokens < 1)
            throw new ArgumentOutOfRangeException(nameof(options), "A batched request makes at least one token.");
        if (options.Probe is not null || options.HeadMask is not null)
            throw new NotSupportedException(
                "Probes and head masks are per batch, not per request: pass them to Join and Step.");
        if (prompt.Count + options.MaxNewTokens > _storage.Capacity)
            throw new ArgumentException($"Prompt ({prompt.Count} tokens) + {options.MaxNewTokens} new tokens exceed "
                + $"the per-sequence capacity {_storage.Capacity}.");
        int row = Array.IndexOf(_rows, null);
        if (row < 0)
            throw new InvalidOperationException($"All {MaxSequences} rows are busy: wait for a sequence to finish.");
        var generator = options.Temperature > 0 ? new Generator((ulong)options.Seed) : null;
        var sequence = new BatchSequence(row, prompt, options, stopTokenIds.ToHashSet(), generator);
        TokenStep first;
        using (var rowCache = _storage.RowCache(row))
            first = TokenGenerator.Prefill(_model, prompt, rowCache,
                probe is null ? options : options with { Probe = probe }, generator, segmentRow: row);
        first = first with { IsStop = sequence.Stops.Contains(first.Id) };
        _rows[row] = sequence;
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

using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Native;
using RetrievalGuard.Engine.Probes;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Generation;

/// <summary>A row to advance by one token: feed <see cref="Token"/> at <see cref="Position"/> of storage row
/// <see cref="Row"/>.</summary>
public readonly record struct DecodeRequest(int Row, int Token, int Position, GenerationOptions Options,
    Generator? Generator = null);

/// <summary>What one decode step produced for one row.</summary>
public readonly record struct DecodeResult(int Row, int Token, float LogProb, float Entropy, float[][]? Attention,
    AttentionSummary? Summary);

/// <summary>
/// Runs the static decode step for the rows of one <see cref="IBatchKvStorage"/> (the storage picks its step). On CUDA
/// each shape (key-window bucket × what is observed) is captured once as a CUDA graph and replayed, which removes
/// libtorch's per-operator launch cost (hundreds of kernels per token); elsewhere the same step runs eagerly.
/// Per step the host writes one small input tensor and reads one small output tensor, nothing else.
/// </summary>
public sealed class DecodeRunner : IDisposable
{
    private const int MaxGraphs = 16;
    private readonly LlamaModel _model;
    private readonly Tensor _inputs;   // [2, rows] int64 on the device: token ids, positions
    private readonly Tensor _staging;  // the same on the host (pinned for CUDA), copied without blocking
    private readonly List<(GraphKey Key, CudaGraph Graph)> _graphs = new(); // most recently used last

    private DecodeRunner(LlamaModel model, IBatchKvStorage storage)
    {
        _model = model;
        Storage = storage;
        var device = storage.Device;
        _inputs = zeros([2, storage.Rows], dtype: int64, device: device).DetachFromDisposeScope();
        _staging = device.type == DeviceType.CUDA
            ? zeros([2, storage.Rows], dtype: int64).pin_memory().DetachFromDisposeScope()
            : _inputs;
        UsesGraphs = CudaGraph.IsSupported(device, out string reason);
        GraphsUnavailableReason = UsesGraphs ? null : reason;
    }

    public IBatchKvStorage Storage { get; }

    /// <summary>True when steps are replayed from captured CUDA graphs.</summary>
    public bool UsesGraphs { get; private set; }

    /// <summary>Why steps run eagerly, when they do.</summary>
    public string? GraphsUnavailableReason { get; private set; }

    /// <summary>Nodes in the most recently captured graph (kernels per decode step), 0 before any capture.</summary>
    public int LastGraphNodes { get; private set; }

    /// <summary>Graphs captured so far (a new one for each new shape bucket).</summary>
    public int Captures { get; private set; }

    /// <summary>The runner bound to <paramref name="storage"/> (made on first use and disposed with the storage).
    /// </summary>
    public static DecodeRunner For(LlamaModel model, IBatchKvStorage storage)
    {
        if (storage.Runner is DecodeRunner r && ReferenceEquals(r._model, model)) return r;
        storage.Runner?.Dispose();
        var runner = new DecodeRunner(model, storage);
        storage.Runner = runner;
        return runner;
    }

    /// <summary>
    /// Advances each requested row by one token. Every row of the storage takes part in the step (fixed shapes); rows
    /// not requested sit it out, writing to scratch.
    /// The probe (if any) observes every requested row. Segment masses come from its per-row labels
    /// (<see cref="AttentionProbe.RowSegmentCount"/>), or in batch-1 steps from
    /// <see cref="AttentionProbe.SetSegments"/>.
    /// </summary>
    public DecodeResult[] Step(IReadOnlyList<DecodeRequest> requests, AttentionProbe? probe = null,
        HeadMask? headMask = null) =>
        requests.Count == 0 ? [] : Collect(Launch(requests, probe, headMask));

    /// <summary>
    /// The first half of <see cref="Step"/>: writes the inputs and runs (or replays) the step without reading its
    /// result, so on a GPU the host can do other work — the guard's risk for the previous token, detokenizing, a
    /// network write — while the device computes. <see cref="Collect"/> reads the result; launching another step
    /// first abandons it.
    /// </summary>
    public PendingStep Launch(IReadOnlyList<DecodeRequest> requests, AttentionProbe? probe = null,
        HeadMask? headMask = null)
    {
        if (requests.Count == 0)
            throw new ArgumentException("A step needs at least one row.", nameof(requests));
        _pending?.Dispose(); // a step launched and never collected (its caller went away) is abandoned
        int longest = 0;
        var seen = new bool[Storage.Rows];
        foreach (var r in requests)
        {
            if (r.Row < 0 || r.Row >= Storage.Rows)
                throw new ArgumentOutOfRangeException(nameof(requests), r.Row,
                    $"Row must be in 0..{Storage.Rows - 1}.");
            if (seen[r.Row])
                throw new ArgumentException($"Row {r.Row} is requested twice in one step.", nameof(requests));
            seen[r.Row] = true;
            if (r.Position < 0 || r.Position >= Storage.Capacity)
                throw new ArgumentOutOfRangeException(nameof(requests), r.Position,
                    $"Position {r.Position} does not fit the cache (capacity {Storage.Capacity}).");
            if (r.Token < 0 || r.Token >= _model.Config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(requests), r.Token,
                    $"Token id {r.Token} is outside the vocabulary (size {_model.Config.VocabSize}).");
            longest = Math.Max(longest, r.Position + 1);
        }
        int rows = Storage.Rows;
        int keyLength = KeyWindow(longest);
        bool greedy = requests.All(r => r.Options.Temperature == 0);

        // Inputs: rows sitting out feed token 0 at the scratch position.
        var host = new long[2 * Storage.Rows];
        Array.Fill(host, Storage.ScratchPosition, Storage.Rows, Storage.Rows);
        foreach (var r in requests)
        {
            host[r.Row] = r.Token;
            host[Storage.Rows + r.Row] = r.Position;
        }

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        _staging.data<long>().CopyFrom(host, 0, 0);
        if (!ReferenceEquals(_staging, _inputs)) _inputs.copy_(_staging, nonBlocking: true);
        var segmentTable = SegmentTable(probe, rows);
        int segments = segmentTable is null ? 0 : (int)segmentTable.shape[^1];
        _model.EnsureRotary(Storage.StoredPositions);

        IReadOnlyList<Tensor> Work() => StepTensors(keyLength, greedy, probe, headMask, segmentTable);
        IReadOnlyList<Tensor>? outputs = null;
        if (UsesGraphs)
        {
            var key = new GraphKey(keyLength, greedy, probe, probe?.SegmentVersion ?? 0, segments, headMask,
                _model.RotaryVersion,
                _model.FusedKernels(out _) is not null);
            try
            {
                outputs = Graph(key, Work).Outputs;
            }
            catch (Exception e) when (Captures == 0)
            {
                // The first capture failed (an operator that cannot be captured, a libtorch without the symbols):
                // run eagerly from now on and say why.
                UsesGraphs = false;
                GraphsUnavailableReason = "capture failed: " + e.Message;
            }
        }
        // A graph's outputs are its own (valid until its next replay); eager outputs leave this scope with the
        // pending step, which disposes them.
        bool owned = outputs is null;
        outputs ??= Work().Select(t => t.DetachFromDisposeScope()).ToArray();
        _pending = new PendingStep([.. requests], keyLength, greedy, segments, probe, outputs, owned);
        return _pending;
    }

    /// <summary>Reads a launched step's result (one read to the host) and disposes it.</summary>
    public DecodeResult[] Collect(PendingStep pending)
    {
        ArgumentNullException.ThrowIfNull(pending);
        if (!ReferenceEquals(pending, _pending) || !pending.IsOpen)
            throw new InvalidOperationException("Only the step last launched on this runner can be collected, once.");
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var (requests, keyLength, probe, segments, outputs) =
            (pending.Requests, pending.KeyLength, pending.Probe, pending.Segments, pending.Outputs);
        // One read to the host: [rows, 3 + probe columns] (token, log-prob, entropy, then what the probe keeps).
        Tensor packed;
        if (pending.Greedy)
        {
            packed = outputs[0];
        }
        else
        {
            var picked = zeros([Storage.Rows, 3], dtype: float32, device: Storage.Device);
            foreach (var r in requests)
                picked.narrow(0, r.Row, 1)
                    .copy_(Sampler.Sample(outputs[0].narrow(0, r.Row, 1), r.Options, r.Generator));
            packed = outputs.Count > 1 ? cat([picked, outputs[1]], 1) : picked;
        }
        float[] values;
        long width = packed.shape[1];
        try
        {
            values = packed.to(float32).cpu().data<float>().ToArray();
        }
        finally
        {
            pending.Dispose();
        }
        var results = new DecodeResult[requests.Count];
        for (int i = 0; i < requests.Count; i++)
        {
            var r = requests[i];
            var row = values.AsSpan((int)(r.Row * width), (int)width);
            results[i] = new DecodeResult(r.Row, (int)row[0], row[1], row[2],
                probe is { KeepRows: true } ? ReadRows(row[3..], probe.Count, keyLength, r.Position + 1) : null,
                probe is { TopK: > 0 } || segments > 0
                    ? ReadSummary(row[(3 + (probe!.KeepRows ? probe.Count * keyLength : 0))..], probe, segments)
                    : null);
        }
        return results;
    }

    private PendingStep? _pending;

    /// <summary>
    /// The one-hot segment table the probe's masses come from: per row [rows, positions, segments] when the probe
    /// labels rows, its single table [positions, segments] in batch-1 steps, else none.
    /// </summary>
    private Tensor? SegmentTable(AttentionProbe? probe, int rows) => probe switch
    {
        { RowSegmentCount: > 0 } => probe.RowSegmentTensor(Storage.Device, rows, Storage.StoredPositions),
        { SegmentCount: > 0 } when rows == 1 => probe.SegmentTensor(Storage.Device, Storage.StoredPositions),
        _ => null,
    };

    /// <summary>The captured work: the step, greedy choice when every row is greedy, and the probe's packed columns.
    /// </summary>
    private IReadOnlyList<Tensor> StepTensors(int keyLength, bool greedy, AttentionProbe? probe, HeadMask? headMask,
        Tensor? segmentTable)
    {
        var (logits, probeRows) = Storage.DecodeStep(_model, _inputs[0], _inputs[1], keyLength, probe, headMask);
        var probeColumns = probeRows is null ? null : ProbeColumns(probeRows, probe!, segmentTable);
        if (!greedy) return probeColumns is null ? [logits] : [logits, probeColumns];
        var picked = Sampler.Sample(logits, GreedyOptions, null);
        return [probeColumns is null ? picked : cat([picked, probeColumns], 1)];
    }

    private static readonly GenerationOptions GreedyOptions = new();

    /// <summary>
    /// [rows, probed heads, keys] → [rows, columns]: rows (if kept), top-K positions and weights, segment masses.
    /// With K = 1 the position is the earliest of equal maxima (the copy-paste rule); larger K follow topk's order.
    /// </summary>
    internal static Tensor ProbeColumns(Tensor probeRows, AttentionProbe probe, Tensor? segmentTable,
        bool? keepRows = null)
    {
        long rows = probeRows.shape[0], heads = probeRows.shape[1], keys = probeRows.shape[2];
        var parts = new List<Tensor>();
        if (keepRows ?? probe.KeepRows) parts.Add(probeRows.flatten(1));
        if (probe.TopK > 0)
        {
            var (weights, positions) = probe.TopK == 1
                ? (probeRows.max(-1, keepdim: true).values,
                    AttentionPeaks.EarliestMaxPositions(probeRows).unsqueeze(-1))
                : probeRows.topk((int)Math.Min(probe.TopK, keys), dim: -1);
            if (keys < probe.TopK)
            {
                // Fewer positions than K so far: pad with position −1 and weight 0.
                long missing = probe.TopK - keys;
                weights = cat([weights, zeros([rows, heads, missing], dtype: float32, device: weights.device)], -1);
                var none = full([rows, heads, missing], Scalars.Of(-1L), dtype: int64, device: positions.device);
                positions = cat([positions, none], -1);
            }
            parts.Add(positions.to(float32).flatten(1));
            parts.Add(weights.flatten(1));
        }
        if (segmentTable is not null)
        {
            // [rows, heads, keys] × [keys, segments], or row by row × [rows, keys, segments].
            var table = segmentTable.dim() == 3 ? segmentTable.narrow(1, 0, keys) : segmentTable.narrow(0, 0, keys);
            parts.Add(matmul(probeRows, table).flatten(1));
        }
        return parts.Count == 1 ? parts[0] : cat(parts, 1);
    }

    internal static float[][] ReadRows(ReadOnlySpan<float> columns, int heads, int keyLength, int length)
    {
        var rows = new float[heads][];
        for (int h = 0; h < heads; h++) rows[h] = columns.Slice(h * keyLength, length).ToArray();
        return rows;
    }

    internal static AttentionSummary ReadSummary(ReadOnlySpan<float> columns, AttentionProbe probe, int segments)
    {
        int heads = probe.Count, k = probe.TopK, s = segments;
        var positions = new int[heads * k];
        for (int i = 0; i < positions.Length; i++) positions[i] = (int)columns[i];
        var weights = columns.Slice(heads * k, heads * k).ToArray();
        var mass = columns.Slice(2 * heads * k, heads * s).ToArray();
        return new AttentionSummary(heads, k, s, positions, weights, mass);
    }

    private CudaGraph Graph(GraphKey key, Func<IReadOnlyList<Tensor>> work)
    {
        int found = _graphs.FindIndex(g => g.Key == key);
        if (found >= 0)
        {
            var hit = _graphs[found];
            _graphs.RemoveAt(found);
            _graphs.Add(hit);
            hit.Graph.Replay();
            return hit.Graph;
        }
        if (_graphs.Count >= MaxGraphs)
        {
            _graphs[0].Graph.Dispose();
            _graphs.RemoveAt(0);
        }
        // Capture runs the step (warm-ups included) on the side stream: the replay below is then the real step,
        // and repeating the step is harmless because it writes the same keys/values at the same positions.
        var graph = CudaGraph.Capture(Storage.Device, work);
        Captures++;
        LastGraphNodes = graph.NodeCount;
        _graphs.Add((key, graph));
        graph.Replay();
        return graph;
    }

    /// <summary>
    /// The key window for the longest row: whole value chunks, and with graphs, steps of an eighth of the current
    /// power of two (at least one chunk), so one graph serves many tokens and at most ~12% of the window is masked.
    /// </summary>
    private int KeyWindow(int length)
    {
        int chunk = Storage.ChunkLength, step = chunk;
        if (UsesGraphs)
        {
            int power = 1;
            while (power * 2 <= length) power *= 2;
            step = Math.Max(chunk, power / 8 / chunk * chunk);
        }
        long window = (length + step - 1L) / step * step;
        return (int)Math.Min(window, Storage.StoredPositions);
    }

    public void Dispose()
    {
        foreach (var (_, g) in _graphs) g.Dispose();
        _graphs.Clear();
        if (!ReferenceEquals(_staging, _inputs)) _staging.Dispose();
        _inputs.Dispose();
    }

    private readonly record struct GraphKey(int KeyLength, bool Greedy, AttentionProbe? Probe, int SegmentVersion,
        int Segments, HeadMask? HeadMask,
        int RotaryVersion, bool FusedKernels);
}

/// <summary>
/// A decode step launched by <see cref="DecodeRunner.Launch"/> and not read yet. Dispose it to abandon it (a caller
/// that stops early); <see cref="DecodeRunner.Collect"/> reads and disposes it.
/// </summary>
public sealed class PendingStep : IDisposable
{
    internal PendingStep(DecodeRequest[] requests, int keyLength, bool greedy, int segments, AttentionProbe? probe,
        IReadOnlyList<Tensor> outputs, bool ownsOutputs)
    {
        (Requests, KeyLength, Greedy, Segments, Probe, Outputs, _ownsOutputs) =
            (requests, keyLength, greedy, segments, probe, outputs, ownsOutputs);
    }

    private readonly bool _ownsOutputs;

    internal IReadOnlyList<DecodeRequest> Requests { get; }
    internal int KeyLength { get; }
    internal bool Greedy { get; }
    internal int Segments { get; }
    internal AttentionProbe? Probe { get; }
    internal IReadOnlyList<Tensor> Outputs { get; }

    /// <summary>Neither collected nor abandoned.</summary>
    internal bool IsOpen { get; private set; } = true;

    public void Dispose()
    {
        if (!IsOpen)
            return;
        IsOpen = false;
        if (_ownsOutputs)
            foreach (var tensor in Outputs)
                tensor.Dispose();
    }
}

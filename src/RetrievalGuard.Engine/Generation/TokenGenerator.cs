using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Probes;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Generation;

/// <summary>A token chosen by <see cref="TokenGenerator"/>, before detokenization.</summary>
public readonly record struct TokenStep(int Id, int Position, float LogProb, float Entropy, bool IsStop,
    float[][]? Attention, AttentionSummary? Summary = null);

/// <summary>
/// Prefill, then one token per step, on a caller-owned cache. Each step runs in its own dispose scope that
/// closes before the step is yielded, so native memory stays flat however many tokens are made, and a
/// consumer may await between steps. One host read per step: the sampled token with whatever the probe keeps.
/// On the static path the next step is launched before a token is yielded, so the device works while the caller
/// does; a caller that stops early leaves one launched step unread (its key/value, past the cache's length, is
/// overwritten by the next write there).
/// With a <see cref="StaticKvCache"/> the steps go through <see cref="DecodeRunner"/> (CUDA graphs on a GPU);
/// other caches use the general forward pass.
/// </summary>
public static class TokenGenerator
{
    public static IEnumerable<TokenStep> Generate(LlamaModel model, IReadOnlyList<int> prompt, IKvCache cache,
        GenerationOptions options, IReadOnlyCollection<int> stopTokenIds, CancellationToken cancellationToken = default)
    {
        ValidateRequest(model, prompt, options);
        EnsureFitsPositions(model, cache.Length + prompt.Count, options.MaxNewTokens);
        if (cache.Length + prompt.Count + options.MaxNewTokens > cache.Capacity)
            throw new ArgumentException($"Prompt ({prompt.Count} tokens) + {options.MaxNewTokens} new tokens "
                + $"after {cache.Length} cached positions exceed the cache capacity {cache.Capacity}.");
        return Run(model, prompt, cache, options, stopTokenIds.ToHashSet(), cancellationToken);
    }

    private static IEnumerable<TokenStep> Run(LlamaModel model, IReadOnlyList<int> prompt, IKvCache cache,
        GenerationOptions options, HashSet<int> stops, CancellationToken cancellationToken)
    {
        if (options.MaxNewTokens == 0) yield break;
        using var generator = options.Temperature > 0 ? new Generator((ulong)options.Seed) : null;
        var runner = cache.StaticDecodeStorage is { } storage && !options.ForceGeneralPath
            ? DecodeRunner.For(model, storage)
            : null;
        var step = Prefill(model, prompt, cache, options, generator);
        PendingStep? next = null;
        try
        {
            for (int made = 1; ; made++)
            {
                bool stop = stops.Contains(step.Id);
                bool last = stop || made >= options.MaxNewTokens;
                // On the static path the next step is launched before this token is handed out: on a GPU it runs
                // while the caller works on this one (the guard's risk, detokenizing, a network write).
                if (!last && runner is not null)
                    next = runner.Launch([new DecodeRequest(0, step.Id, cache.Length, options, generator)],
                        options.Probe, options.HeadMask);
                yield return step with { IsStop = stop };
                if (last) yield break;
                cancellationToken.ThrowIfCancellationRequested();
                step = next is null
                    ? Decode(model, step.Id, cache, options, generator)
                    : Collect(runner!, next, cache);
                next = null;
            }
        }
        finally
        {
            next?.Dispose(); // a caller that stopped early abandons the launched step
        }
    }

    /// <summary>
    /// Checks what every generation entry point takes: options, a non-empty prompt of in-vocabulary ids.
    /// </summary>
    internal static void ValidateRequest(LlamaModel model, IReadOnlyList<int> prompt, GenerationOptions options)
    {
        options.Validate();
        if (prompt.Count == 0) throw new ArgumentException("The prompt has no tokens.", nameof(prompt));
        foreach (int id in prompt)
            if (id < 0 || id >= model.Config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(prompt), id,
                    $"Token id {id} is outside the vocabulary (size {model.Config.VocabSize}).");
    }

    /// <summary>
    /// Refuses, before any work, a request that would run past the model's positions (where RoPE models produce word
    /// salad): the message gives the numbers.
    /// </summary>
    public static void EnsureFitsPositions(LlamaModel model, int promptTokens, int maxNewTokens)
    {
        var positions = model.Config.MaxPositionEmbeddings;
        if (promptTokens + maxNewTokens > positions)
            throw new ContextLengthException(promptTokens >= positions
                ? $"The prompt has {promptTokens} tokens; the model has {positions} positions."
                : $"The prompt ({promptTokens} tokens) + {maxNewTokens} new tokens = {promptTokens + maxNewTokens} "
                    + $"exceed the model's {positions} positions: "
                    + $"ask for at most {positions - promptTokens} new tokens.",
                promptTokens + maxNewTokens, positions);
    }

    /// <summary>Runs the prompt (in chunks if asked) into the cache and chooses the first token.</summary>
    /// <param name="segmentRow">The batch row whose labels (<see cref="AttentionProbe.SetRowSegments"/>) the probe's
    /// segment masses use for the first token; null for the probe's own (<see cref="AttentionProbe.SetSegments"/>).
    /// </param>
    internal static TokenStep Prefill(LlamaModel model, IReadOnlyList<int> prompt, IKvCache cache,
        GenerationOptions options, Generator? generator, int? segmentRow = null)
    {
        int chunk = options.PrefillChunk > 0 ? options.PrefillChunk : prompt.Count;
        for (int from = 0; ; from += chunk)
        {
            int count = Math.Min(chunk, prompt.Count - from);
            bool last = from + count == prompt.Count;
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var ids = tensor(prompt.Skip(from).Take(count).Select(i => (long)i).ToArray(), dtype: int64,
                device: model.Device).unsqueeze(0);
            var logits = model.forward(ids, Pass(cache, options, last, keep: 1));
            if (last) return Choose(logits, cache.Length, options, generator, segmentRow);
        }
    }

    private static TokenStep Decode(LlamaModel model, int previous, IKvCache cache, GenerationOptions options,
        Generator? generator)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad(); // grad mode is thread-local: set it per step, never across a yield
        var ids = tensor(new long[] { previous }, dtype: int64, device: model.Device).unsqueeze(0);
        var logits = model.forward(ids, Pass(cache, options, observe: true, keep: 1));
        return Choose(logits, cache.Length, options, generator);
    }

    /// <summary>Reads a launched static step (the token fed at the cache's length) and commits it.</summary>
    private static TokenStep Collect(DecodeRunner runner, PendingStep pending, IKvCache cache)
    {
        int position = cache.Length;
        var result = runner.Collect(pending)[0];
        cache.Commit(position + 1);
        return new TokenStep(result.Token, position + 1, result.LogProb, result.Entropy, false, result.Attention,
            result.Summary);
    }

    private static ForwardOptions Pass(IKvCache cache, GenerationOptions options, bool observe, int keep) => new()
    {
        StartPosition = cache.Length,
        Cache = cache,
        LogitsToKeep = keep,
        Probe = observe ? options.Probe : null,
        HeadMask = options.HeadMask,
    };

    private static TokenStep Choose(Tensor logits, int position, GenerationOptions options, Generator? generator,
        int? segmentRow = null)
    {
        var picked = Sampler.Sample(logits[.., -1, ..], options, generator).cpu();
        var values = picked.data<float>().ToArray();
        float[][]? attention = null;
        AttentionSummary? summary = null;
        if (options.Probe is { } probe && probe.Weights is { } weights)
        {
            if (probe.KeepRows) attention = probe.ReadWeights().Select(h => h[^1]).ToArray();
            summary = Summarize(probe, weights, logits.device, segmentRow);
        }
        return new TokenStep((int)values[0], position, values[1], values[2], false, attention, summary);
    }

    /// <summary>The same summary the decode runner computes, for the newest query of a general forward pass.</summary>
    private static AttentionSummary? Summarize(AttentionProbe probe, Tensor weights, Device device, int? segmentRow)
    {
        var newest = weights[0..1, .., -1, ..];                         // [1, heads, keys]
        int keys = (int)newest.shape[^1];
        var table = segmentRow is int row && probe.RowSegmentCount > 0 ? probe.RowSegmentTable(row, device, keys)
            : probe.SegmentCount > 0 ? probe.SegmentTensor(device, keys)
            : null;
        if (probe.TopK == 0 && table is null) return null;
        var columns = DecodeRunner.ProbeColumns(newest, probe, table, keepRows: false).cpu().data<float>().ToArray();
        return DecodeRunner.ReadSummary(columns, probe, table is null ? 0 : (int)table.shape[^1]);
    }
}

using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Probes;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Generation;

/// <summary>
/// Reads a given continuation instead of generating one: for every token of <c>ids[answerStart..]</c>, its
/// log-probability and the entropy of the model's distribution where it stands, and, with a probe, where the probed
/// heads looked from the query that predicted it. The same <see cref="TokenStep"/>s generation yields for the same
/// tokens, from one pass over the continuation (the prefix first, in chunks, into a cache, once for any number of
/// continuations).
/// </summary>
public static class TeacherForcing
{
    public static IReadOnlyList<TokenStep> Score(LlamaModel model, IReadOnlyList<int> ids, int answerStart,
        AttentionProbe? probe = null, int prefillChunk = 0, HeadMask? headMask = null)
    {
        ArgumentNullException.ThrowIfNull(ids);
        if (answerStart < 1 || answerStart > ids.Count)
            throw new ArgumentOutOfRangeException(nameof(answerStart), answerStart,
                $"The scored tokens must start after at least one token and within the {ids.Count} given.");
        return ScoreMany(model, ids.Take(answerStart).ToArray(), [ids.Skip(answerStart).ToArray()],
            _ => probe, prefillChunk, headMask)[0];
    }

    /// <summary>
    /// Several continuations of one prefix: the prefix is read once into a cache, and each continuation is scored
    /// from there (the cache is cut back to the prefix between them). <paramref name="probeFor"/> gives the probe for
    /// a continuation of a given length (its <see cref="AttentionProbe.QueryTokens"/> must equal that length), or null.
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<TokenStep>> ScoreMany(LlamaModel model, IReadOnlyList<int> prefix,
        IReadOnlyList<IReadOnlyList<int>> continuations, Func<int, AttentionProbe?> probeFor, int prefillChunk = 0,
        HeadMask? headMask = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(prefix);
        ArgumentNullException.ThrowIfNull(continuations);
        ArgumentNullException.ThrowIfNull(probeFor);
        if (prefix.Count == 0)
            throw new ArgumentException("Scoring needs at least one token before the scored ones.", nameof(prefix));
        var longest = continuations.Count == 0 ? 0 : continuations.Max(c => c.Count);
        TokenGenerator.ValidateRequest(model, prefix.Concat(continuations.SelectMany(c => c)).ToArray(),
            new GenerationOptions { PrefillChunk = prefillChunk });
        if (prefix.Count + longest > model.Config.MaxPositionEmbeddings)
            throw new ContextLengthException(
                $"{prefix.Count} + {longest} tokens exceed the model's {model.Config.MaxPositionEmbeddings} positions.",
                prefix.Count + longest, model.Config.MaxPositionEmbeddings, nameof(continuations));

        using var cache = model.CreateCache(prefix.Count + Math.Max(longest, 1));
        // Everything before the query that predicts the first scored token goes into the cache once, without a probe.
        var head = prefix.Count - 1;
        var chunk = prefillChunk > 0 ? prefillChunk : Math.Max(head, 1);
        using (NewDisposeScope())
        using (no_grad())
        {
            for (var from = 0; from < head; from += chunk)
            {
                var count = Math.Min(chunk, head - from);
                model.forward(Ids(prefix.Skip(from).Take(count), model.Device),
                    new ForwardOptions { StartPosition = from, Cache = cache, LogitsToKeep = 1, HeadMask = headMask });
            }
        }
        var results = new List<IReadOnlyList<TokenStep>>(continuations.Count);
        foreach (var continuation in continuations)
        {
            cache.Truncate(head);
            results.Add(continuation.Count == 0 ? []
                : ScoreContinuation(model, cache, prefix[^1], continuation, probeFor(continuation.Count), headMask));
        }
        return results;
    }

    private static TokenStep[] ScoreContinuation(LlamaModel model, StaticKvCache cache, int lastPrefixToken,
        IReadOnlyList<int> continuation, AttentionProbe? probe, HeadMask? headMask)
    {
        var scored = continuation.Count;
        if (probe is not null && probe.QueryTokens != scored)
            throw new ArgumentException(
                $"The probe records {probe.QueryTokens} query tokens; scoring {scored} tokens needs that many.",
                nameof(probe));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var start = cache.Length;
        // The query of the prefix's last token predicts the first scored token; the last scored token is not input.
        var input = continuation.Take(scored - 1).Prepend(lastPrefixToken);
        var logits = model.forward(Ids(input, model.Device), new ForwardOptions
        {
            StartPosition = start, Cache = cache, LogitsToKeep = scored, Probe = probe, HeadMask = headMask,
        })[0].to(float32);                                                      // [scored, vocab]
        var logProbs = logits.log_softmax(-1);
        var targets = tensor(continuation.Select(i => (long)i).ToArray(), dtype: int64, device: model.Device);
        var chosen = logProbs.gather(1, targets.unsqueeze(1)).squeeze(1);
        var entropy = -(logProbs.exp() * logProbs).sum(-1);
        var values = stack([chosen, entropy], 1).cpu().data<float>().ToArray();

        var summaries = probe?.Weights is { } weights ? Summaries(probe, weights, start + scored) : null;
        var steps = new TokenStep[scored];
        for (var i = 0; i < scored; i++)
            steps[i] = new TokenStep(continuation[i], start + 1 + i, values[2 * i], values[(2 * i) + 1], false,
                null, summaries?[i]);
        return steps;
    }

    // [1, heads, queries, keys] → one summary per query, computed on the device as a decode step's are.
    private static AttentionSummary?[] Summaries(AttentionProbe probe, Tensor weights, int keys)
    {
        var rows = weights[0].transpose(0, 1).narrow(2, 0, keys);             // [queries, heads, keys]
        var segments = probe.SegmentCount > 0;
        if (probe.TopK == 0 && !segments)
            return new AttentionSummary?[rows.shape[0]];
        var table = segments ? probe.SegmentTensor(rows.device, keys) : null;
        var columns = DecodeRunner.ProbeColumns(rows.contiguous(), probe, table, keepRows: false).cpu();
        var width = (int)columns.shape[1];
        var flat = columns.data<float>().ToArray();
        return Enumerable.Range(0, (int)columns.shape[0])
            .Select(q => (AttentionSummary?)DecodeRunner.ReadSummary(flat.AsSpan(q * width, width), probe,
                segments ? probe.SegmentCount : 0))
            .ToArray();
    }

    private static Tensor Ids(IEnumerable<int> ids, Device device) =>
        tensor(ids.Select(i => (long)i).ToArray(), dtype: int64, device: device).unsqueeze(0);
}

using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using RetrievalGuard.Data;
using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Heads.Detection;
using static TorchSharp.torch;

namespace RetrievalGuard.Heads.Caching;

/// <summary>What a cache evaluation runs: a NIAH grid and passage-QA items, on held-out text.</summary>
public sealed record CacheEvaluationSettings
{
    public IReadOnlyList<int> Lengths { get; init; } = [512, 1024, 2048];

    /// <summary>Needle depths spread from 0% to 100% (as <see cref="NeedleTests.Grid"/> spreads them).</summary>
    public int Depths { get; init; } = 5;

    public int NeedlesPerCell { get; init; } = 2;

    /// <summary>Passage-QA items: answerable and conflict in turn, the lengths in turn.</summary>
    public int QaItems { get; init; }

    /// <summary>Seed of the needles and passages (the same items under every policy).</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Prompt tokens per prefill pass: streaming heads then attend over ring + chunk, not the whole
    /// prompt.</summary>
    public int PrefillChunk { get; init; } = 256;

    /// <summary>The evaluators' answer budget, which is also what every item leaves free.</summary>
    public int MaxAnswerTokens { get; init; } = EvalSetBuilder.AnswerReserveTokens;
}

/// <summary>A passage-QA item and the context length it was built for (its prompt is a little shorter).</summary>
public sealed record QaCase(EvalItem Item, int Length);

/// <summary>One greedy answer under a policy, judged, with what its cache held.</summary>
/// <param name="Task">niah, answerable or conflict.</param>
/// <param name="Length">The context length the item was built for.</param>
/// <param name="Depth">The needle's depth (NIAH only).</param>
/// <param name="KvBytes">Bytes the item's cache held (capacity: prompt + answer budget).</param>
/// <param name="FullKvBytes">Every position of every KV head at that capacity.</param>
public sealed record CacheItemResult(string Id, string Task, int Length, double? Depth, int PromptTokens,
    string Expected, string Answer, bool Correct, long KvBytes, long FullKvBytes)
{
    public const string Niah = "niah";

    public double BytesShare => (double)KvBytes / FullKvBytes;
}

/// <summary>Accuracy and bytes of a group of items (a grid cell, a length, a task).</summary>
public sealed record CacheScore(int Correct, int Total, double BytesShare, long MeanKvBytes)
{
    public double Accuracy => Total == 0 ? 0 : (double)Correct / Total;

    public static CacheScore Of(IReadOnlyCollection<CacheItemResult> items) => new(items.Count(i => i.Correct),
        items.Count, items.Count == 0 ? 0 : items.Average(i => i.BytesShare),
        items.Count == 0 ? 0 : (long)items.Average(i => i.KvBytes));
}

/// <summary>Every item of one policy's run and the figures made from them.</summary>
public sealed record CacheEvaluationReport(KvCachePolicy Policy, CacheEvaluationSettings Settings,
    IReadOnlyList<CacheItemResult> Items, double Seconds)
{
    public IReadOnlyList<CacheItemResult> NiahItems => Items.Where(i => i.Task == CacheItemResult.Niah).ToList();

    public IReadOnlyList<CacheItemResult> QaItems => Items.Where(i => i.Task != CacheItemResult.Niah).ToList();

    public CacheScore Niah => CacheScore.Of(NiahItems);

    public CacheScore Qa => CacheScore.Of(QaItems);

    public IReadOnlyList<int> NiahLengths => NiahItems.Select(i => i.Length).Distinct().Order().ToList();

    public IReadOnlyList<double> NiahDepths => NiahItems.Select(i => i.Depth!.Value).Distinct().Order().ToList();

    public CacheScore NiahCell(int length, double depth) =>
        CacheScore.Of(NiahItems.Where(i => i.Length == length && i.Depth == depth).ToList());

    public CacheScore ByLength(IEnumerable<CacheItemResult> items, int length) =>
        CacheScore.Of(items.Where(i => i.Length == length).ToList());

    public CacheScore ByTask(string task) => CacheScore.Of(Items.Where(i => i.Task == task).ToList());

    public JsonObject ToJson()
    {
        static JsonObject Score(CacheScore s) => new()
        {
            ["accuracy"] = Math.Round(s.Accuracy, 4), ["correct"] = s.Correct, ["items"] = s.Total,
            ["kv_bytes"] = s.MeanKvBytes, ["kv_bytes_share"] = Math.Round(s.BytesShare, 4),
        };
        JsonObject Lengths(IReadOnlyList<CacheItemResult> items) => new(items.Select(i => i.Length).Distinct().Order()
            .Select(l => KeyValuePair.Create(l.ToString(), (JsonNode?)Score(ByLength(items, l)))));
        JsonObject Row(int length) => new(NiahDepths.Select(d =>
            KeyValuePair.Create($"{d:0.00}", (JsonNode?)Math.Round(NiahCell(length, d).Accuracy, 4))));
        var grid = new JsonObject(NiahLengths.Select(l => KeyValuePair.Create(l.ToString(), (JsonNode?)Row(l))));
        var niah = Score(Niah);
        niah["grid"] = grid;
        niah["by_length"] = Lengths(NiahItems);
        var qa = Score(Qa);
        qa["answerable"] = Score(ByTask("answerable"));
        qa["conflict"] = Score(ByTask("conflict"));
        qa["by_length"] = Lengths(QaItems);
        return new JsonObject
        {
            ["policy"] = Policy.Kind.ToString().ToLowerInvariant(),
            ["description"] = Policy.ToString(),
            ["full_kv_heads"] = Policy.Kind is CacheKind.HeadAware or CacheKind.Random
                ? Policy.FullKvHeads.Count
                : null,
            ["full_kv_head_list"] = new JsonArray(Policy.FullKvHeads.Select(h => (JsonNode?)h.ToString()).ToArray()),
            ["sink_tokens"] = Policy.SinkTokens,
            ["window"] = Policy.Window,
            ["seed"] = Settings.Seed,
            ["prefill_chunk"] = Settings.PrefillChunk,
            ["max_answer_tokens"] = Settings.MaxAnswerTokens,
            ["seconds"] = Math.Round(Seconds, 1),
            ["niah"] = niah,
            ["qa"] = qa,
            ["items"] = JsonSerializer.SerializeToNode(Items, SnakeCase),
        };
    }

    private static readonly JsonSerializerOptions SnakeCase = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };
}

/// <summary>
/// Accuracy of greedy answers under one KV cache policy: each item is answered on a fresh cache of the policy sized to
/// its prompt + answer budget (disposed after it), and judged as the rest of the project judges it — a needle answer
/// counts when it states the needle's value (as <see cref="Ablation.HeadAblation"/> counts), a passage-QA answer when
/// <see cref="EvalItem.Judge"/> calls it grounded (as <c>make-eval</c> and the organism report do).
/// </summary>
public sealed class CacheEvaluation(LanguageModel model, KvCachePolicy policy, CacheEvaluationSettings settings)
{
    /// <summary>The settings' NIAH grid and QA items, built from <paramref name="heldOutFolder"/>.</summary>
    public CacheEvaluationReport Run(string heldOutFolder, Action<CacheItemResult>? progress = null,
        CancellationToken cancellationToken = default) =>
        Run(NeedleTests.Grid(heldOutFolder, settings.Lengths, settings.Depths, settings.NeedlesPerCell, settings.Seed,
            model.Tokenizer.CountTokens), QaItems(heldOutFolder), progress, cancellationToken);

    /// <summary>Given needle tests and QA items (answerable or conflict), answered in that order.</summary>
    public CacheEvaluationReport Run(IReadOnlyList<NeedleTest> needles, IReadOnlyList<QaCase> qaItems,
        Action<CacheItemResult>? progress = null, CancellationToken cancellationToken = default)
    {
        var clock = Stopwatch.StartNew();
        var results = new List<CacheItemResult>();
        void Add(CacheItemResult result)
        {
            results.Add(result);
            progress?.Invoke(result);
            cancellationToken.ThrowIfCancellationRequested();
        }
        foreach (var test in needles)
        {
            var (answer, tokens, held, full) = Answer(test.Prompt);
            Add(new CacheItemResult(test.Id, CacheItemResult.Niah, test.ContextTokens, test.Depth, tokens, test.Value,
                answer, StatesValue(answer, test.Value), held, full));
        }
        foreach (var (item, length) in qaItems)
        {
            var (answer, tokens, held, full) = Answer(item.Prompt());
            Add(new CacheItemResult(item.Id, item.Kind.ToString().ToLowerInvariant(), length, null, tokens,
                item.Gold ?? "", answer, item.Answered(answer).Label == EvalLabel.Grounded, held, full));
        }
        return new CacheEvaluationReport(policy, settings, results, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Answerable and conflict items in turn, over the lengths in turn, from held-out text.</summary>
    public IReadOnlyList<QaCase> QaItems(string heldOutFolder)
    {
        if (settings.QaItems == 0)
            return [];
        var builder = EvalSetBuilder.FromFolder(heldOutFolder, settings.Seed, countTokens: model.Tokenizer.CountTokens);
        EvalKind[] kinds = [EvalKind.Answerable, EvalKind.Conflict];
        return Enumerable.Range(0, settings.QaItems)
            .Select(i => (Kind: kinds[i % 2], Length: settings.Lengths[i / 2 % settings.Lengths.Count], Index: i))
            .Select(c => new QaCase(builder.Build(c.Kind, c.Length, c.Index), c.Length))
            .ToList();
    }

    /// <summary>HeadAblation's rule for a needle answer: it states the value (any case).</summary>
    private static bool StatesValue(string answer, string value) =>
        answer.Contains(value, StringComparison.OrdinalIgnoreCase);

    private (string Answer, int PromptTokens, long KvBytes, long FullKvBytes) Answer(string prompt)
    {
        var ids = model.Tokenizer.Encode(prompt);
        using var scope = NewDisposeScope();
        using var cache = model.CreateCache(policy, ids.Count + settings.MaxAnswerTokens);
        var options = new GenerationOptions
        {
            MaxNewTokens = settings.MaxAnswerTokens, PrefillChunk = settings.PrefillChunk,
        };
        var steps = TokenGenerator.Generate(model.Network, ids, cache, options, model.Tokenizer.StopTokenIds);
        return (model.AnswerLine(steps), ids.Count, HeldBytes(cache), FullBytes(cache));
    }

    private static long HeldBytes(IKvCache cache) => cache switch
    {
        HeadAwareKvCache compressed => compressed.SizeInBytes,
        StaticKvCache full => full.SizeInBytes,
        _ => throw new NotSupportedException($"No memory account for a {cache.GetType().Name}."),
    };

    /// <summary>Every position of every KV head at the cache's capacity (the static cache's scratch positions, which
    /// round its buffers up to whole chunks, not counted).</summary>
    private static long FullBytes(IKvCache cache) => cache switch
    {
        HeadAwareKvCache compressed => compressed.FullSizeInBytes,
        StaticKvCache full => full.SizeInBytes / full.Storage.StoredPositions * full.Capacity,
        _ => throw new NotSupportedException($"No memory account for a {cache.GetType().Name}."),
    };
}

/// <summary>
/// A temporary folder holding only the held-out file of a corpus folder (<see cref="CorpusSplit"/>): needle grids
/// and evaluation sets read every text file of the folder they are given, and haystacks must be text the model never
/// trained on. Deleted on dispose.
/// </summary>
public sealed class HeldOutFolder : IDisposable
{
    public HeldOutFolder(string corpusFolder)
    {
        var source = Path.Combine(corpusFolder, CorpusSplit.EvaluationFileName);
        if (!File.Exists(source))
            throw new FileNotFoundException(
                $"'{corpusFolder}' has no held-out {CorpusSplit.EvaluationFileName}: give a folder of held-out text.",
                source);
        Folder = Directory.CreateTempSubdirectory("rguard-held-out-").FullName;
        File.Copy(source, Path.Combine(Folder, CorpusSplit.EvaluationFileName));
    }

    public string Folder { get; }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}

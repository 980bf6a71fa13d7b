using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Engine.Tests.Support;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Tests.Caches;

/// <summary>
/// The compressed cache in continuous batching: rows of their own lengths, joining and leaving between steps, must
/// give what each sequence gets alone with the single-sequence compressed cache (the general forward pass).
/// </summary>
public class HeadAwareKvStorageTests
{
    private const int Capacity = 64;

    private static KvCachePolicy HeadAware(params KvHead[] full) =>
        new() { Kind = CacheKind.HeadAware, SinkTokens = 2, Window = 6, FullKvHeads = full };

    private static int[] Prompt(int seed, int length) =>
        TinyModels.Tokens(seed, length).data<long>().Select(t => (int)t).ToArray();

    private static List<TokenStep> Alone(LlamaModel model, KvCachePolicy policy, int[] prompt, int newTokens,
        AttentionProbe? probe = null)
    {
        using var cache = model.CreateCache(policy, Capacity);
        // The general pass as the reference (the model's compressed cache would take the static step).
        var options = new GenerationOptions
        {
            MaxNewTokens = newTokens, PrefillChunk = 5, Probe = probe, ForceGeneralPath = true,
        };
        return TokenGenerator.Generate(model, prompt, cache, options, []).ToList();
    }

    /// <summary>Runs the requests through a batch of <paramref name="rows"/>, joining as rows free up.</summary>
    private static List<List<TokenStep>> Batched(LlamaModel model, KvCachePolicy policy, int rows,
        (int[] Prompt, int NewTokens)[] requests, AttentionProbe? probe = null)
    {
        using var batch = new BatchDecoder(model, rows, Capacity, policy);
        var steps = requests.Select(_ => new List<TokenStep>()).ToList();
        var sequences = new List<BatchSequence>();
        while (sequences.Count < requests.Length || batch.Active > 0)
        {
            while (sequences.Count < requests.Length && batch.HasFreeRow)
            {
                var (prompt, newTokens) = requests[sequences.Count];
                var options = new GenerationOptions { MaxNewTokens = newTokens, PrefillChunk = 5 };
                var (sequence, first) = batch.Join(prompt, options, [], probe);
                sequences.Add(sequence);
                steps[sequences.Count - 1].Add(first);
            }
            foreach (var (sequence, step) in batch.Step(probe))
                steps[sequences.IndexOf(sequence)].Add(step);
        }
        return steps;
    }

    private static (int[], int)[] Requests() =>
    [
        (Prompt(3, 11), 14),   // past sinks + window in prefill, wraps the ring while decoding
        (Prompt(4, 3), 20),    // shorter than sinks + window: fills the ring while decoding
        (Prompt(5, 23), 6),
        (Prompt(6, 7), 9),     // joins the row the first to finish frees, over an older sequence's keys
    ];

    public static TheoryData<int?> Windows => new() { null, 9 };

    [Theory]
    [MemberData(nameof(Windows))]
    public void BatchedRowsGiveWhatEachSequenceGetsAloneWithTheCompressedCache(int? slidingWindow)
    {
        using var model = TinyModels.Create(TinyModels.Config(slidingWindow: slidingWindow));
        var policy = HeadAware(new KvHead(0, 1));   // layer 0: one full, one streaming; layer 1: both streaming
        var requests = Requests();
        var alone = requests.Select(r => Alone(model, policy, r.Item1, r.Item2)).ToList();
        var batched = Batched(model, policy, rows: 3, requests);
        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(alone[i].Select(s => s.Id), batched[i].Select(s => s.Id));
            for (int t = 0; t < alone[i].Count; t++)
                Assert.True(Math.Abs(alone[i][t].LogProb - batched[i][t].LogProb) < 1e-4,
                    $"request {i} step {t}: {alone[i][t].LogProb} vs {batched[i][t].LogProb}");
        }
    }

    [Fact]
    public void ProbedHeadsSeeInTheBatchWhatTheySeeAlone()
    {
        using var model = TinyModels.Create();
        HeadIndex[] heads = [new(0, 0), new(0, 2), new(1, 3)]; // streaming, full, streaming
        var policy = HeadAware(new KvHead(0, 1));
        var requests = Requests().Take(2).ToArray();
        var alone = requests.Select(r =>
        {
            using var probe = new AttentionProbe(heads, 2, 4);
            return Alone(model, policy, r.Item1, r.Item2, probe);
        }).ToList();
        using var batchProbe = new AttentionProbe(heads, 2, 4) { TopK = 1 };
        var batched = Batched(model, policy, rows: 2, requests, batchProbe);
        for (int i = 0; i < requests.Length; i++)
            for (int t = 1; t < alone[i].Count; t++)       // decode steps (the first token is a prefill's)
                for (int h = 0; h < heads.Length; h++)
                {
                    var (want, got) = (alone[i][t].Attention![h], batched[i][t].Attention![h]);
                    Assert.Equal(want.Length, got.Length);
                    for (int p = 0; p < want.Length; p++)
                        Assert.True(Math.Abs(want[p] - got[p]) < 1e-5, $"request {i} step {t} head {h} at {p}");
                    Assert.Equal(Array.IndexOf(got, got.Max()), batched[i][t].Summary!.TopPositions(h)[0]);
                }
    }

    [Fact]
    public void EveryKvHeadFullGivesTheFullBatchsTokens()
    {
        using var model = TinyModels.Create();
        var all = Enumerable.Range(0, 2).SelectMany(l => Enumerable.Range(0, 2).Select(h => new KvHead(l, h)));
        var requests = Requests();
        var full = Batched(model, KvCachePolicy.Full, rows: 3, requests);
        var headAware = Batched(model, HeadAware(all.ToArray()), rows: 3, requests);
        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(full[i].Select(s => s.Id), headAware[i].Select(s => s.Id));
            for (int t = 0; t < full[i].Count; t++)
                Assert.True(Math.Abs(full[i][t].LogProb - headAware[i][t].LogProb) < 1e-4, $"request {i} step {t}");
        }
    }

    [Fact]
    public void TheMemoryAccountIsTheBuffersAndABudgetHoldsMoreCompressedRows()
    {
        using var model = TinyModels.Create();    // 2 layers, 2 KV heads, head dim 8, fp32
        var policy = HeadAware(new KvHead(0, 1));
        const int capacity = 1000;
        using var full = new BatchDecoder(model, 4, capacity);
        using var compressed = new BatchDecoder(model, 4, capacity, policy);
        Assert.Equal(full.CacheBytes, 4 * BatchDecoder.BytesPerSequence(model, KvCachePolicy.Full, capacity));
        Assert.Equal(compressed.CacheBytes, 4 * BatchDecoder.BytesPerSequence(model, policy, capacity));
        // One full KV head of 1,008 stored positions (1,000 + scratch, in 16-position chunks), three rings of
        // 2 + 6 slots + scratch, keys and values in fp32.
        long fullHead = 2L * 1008 * 8 * 4, ringHead = 2L * (2 + 6 + 1) * 8 * 4;
        Assert.Equal(4 * (fullHead + 3 * ringHead), compressed.CacheBytes);
        long budget = full.CacheBytes;
        Assert.Equal(4, BatchDecoder.SequencesWithin(budget, model, KvCachePolicy.Full, capacity));
        Assert.Equal((int)(budget / (fullHead + 3 * ringHead)),
            BatchDecoder.SequencesWithin(budget, model, policy, capacity));
    }

    [Fact]
    public void RowCachesRefuseRowsOutsideTheStorage()
    {
        using var model = TinyModels.Create();
        using var storage = new HeadAwareKvStorage(model.Config, HeadAware(), 2, 16, ScalarType.Float32, CPU);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => storage.RowCache(2));
        Assert.Contains("rows 0..1", error.Message, StringComparison.Ordinal);
    }
}

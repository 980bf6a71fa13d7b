using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Engine.Tests.Support;

namespace RetrievalGuard.Engine.Tests.Generation;

/// <summary>
/// <see cref="BatchDecoder.JoinAll"/>: prompts that join together (one batched prefill, then one step for their last
/// tokens) decode exactly as each does alone, into whichever rows are free.
/// </summary>
public class BatchJoinTests
{
    // Three of the same length share one prefill pass; the 3-token one is too short for it (padding) and gets its own.
    private static readonly int[][] Prompts =
        [[5, 17, 3, 44, 9, 61, 2], [70], [44, 9, 61, 2, 8, 13, 21], [8, 13, 21, 34, 55, 3, 7], [44, 9, 61]];

    private static GenerationOptions Options(int i, int chunk = 0) => i == 3
        ? new GenerationOptions { MaxNewTokens = 6, Temperature = 0.8f, TopP = 0.9f, Seed = 5, PrefillChunk = chunk }
        : new GenerationOptions { MaxNewTokens = 4 + i, PrefillChunk = chunk };

    private static List<TokenStep> Alone(LlamaModel model, int[] prompt, GenerationOptions options)
    {
        using var cache = model.CreateCache(64);
        return TokenGenerator.Generate(model, prompt, cache, options, []).ToList();
    }

    [Theory]
    [InlineData(null, 0)]
    [InlineData(4, 0)]  // sliding window shorter than the prompts
    [InlineData(null, 2)]  // prefilled in chunks of 2: later chunks read their rows back
    public void SequencesJoinedTogetherDecodeAsEachDoesAlone(int? window, int chunk)
    {
        using var model = TinyModels.Create(TinyModels.Config(slidingWindow: window));
        var alone = Prompts.Select((p, i) => Alone(model, p, Options(i, chunk))).ToList();

        using var batch = new BatchDecoder(model, maxSequences: 7, capacityPerSequence: 32) { BatchesPrefills = true };
        // Busy rows 0 and 2, free 1, 3, 4, 5, 6: the joiners take them, not side by side.
        var first = batch.Join([1, 2, 3], new GenerationOptions { MaxNewTokens = 20 }, []).Sequence;
        var leaving = batch.Join([4, 5], new GenerationOptions { MaxNewTokens = 20 }, []).Sequence;
        batch.Join([6, 7, 8, 9], new GenerationOptions { MaxNewTokens = 20 }, []);
        batch.Step();
        batch.Leave(leaving);
        Assert.Equal([1, 3, 4, 5, 6], batch.FreeRows);

        var joined = batch.JoinAll(Prompts.Select((p, i) => new JoinRequest(p, Options(i, chunk), [])).ToArray());
        Assert.Equal([1, 3, 4, 5, 6], joined.Select(j => j.Sequence.Row));
        var steps = joined.Select(j => new List<TokenStep> { j.First }).ToList();
        while (joined.Any(j => !j.Sequence.Finished))
            foreach (var (sequence, step) in batch.Step())
                if (joined.FirstOrDefault(j => j.Sequence == sequence) is { Sequence: not null } j)
                    steps[joined.ToList().IndexOf(j)].Add(step);

        for (int i = 0; i < Prompts.Length; i++)
        {
            Assert.Equal(alone[i].Select(s => s.Id), steps[i].Select(s => s.Id));
            Assert.Equal(alone[i].Select(s => s.Position), steps[i].Select(s => s.Position));
            for (int t = 0; t < alone[i].Count; t++)
                Assert.InRange(Math.Abs(alone[i][t].LogProb - steps[i][t].LogProb), 0, 1e-4);
        }
        Assert.False(first.Finished);
    }

    [Fact]
    public void TheFirstTokensSummaryIsTheOneAPromptGetsAlone()
    {
        using var model = TinyModels.Create();
        HeadIndex[] heads = [new(0, 1), new(1, 2)];
        (int[] Prompt, int[] Segments, int Count)[] requests =
        [
            ([5, 17, 3, 44, 9], [0, 1, 1, 2, 2], 4),
            ([61, 2, 8, 13, 21, 34, 55], [0, 0, 1, 2, 3, 3, 0], 5),
        ];
        using var probe = new AttentionProbe(heads, 2, 4) { TopK = 2, KeepRows = false, RowSegmentCount = 5 };
        using var one = new BatchDecoder(model, maxSequences: 2, capacityPerSequence: 32);
        var alone = requests.Select(r =>
        {
            probe.SetRowSegments(one.FreeRow!.Value, r.Segments, defaultSegment: r.Count - 1);
            return one.Join(r.Prompt, new GenerationOptions { MaxNewTokens = 3 }, [], probe).First;
        }).ToList();

        using var together = new BatchDecoder(model, maxSequences: 2, capacityPerSequence: 32)
        {
            BatchesPrefills = true,
        };
        for (int i = 0; i < requests.Length; i++)
            probe.SetRowSegments(together.FreeRows[i], requests[i].Segments, defaultSegment: requests[i].Count - 1);
        var joined = together.JoinAll(
            requests.Select(r => new JoinRequest(r.Prompt, new GenerationOptions { MaxNewTokens = 3 }, [])).ToArray(),
            probe);
        for (int i = 0; i < requests.Length; i++)
        {
            var (expected, got) = (alone[i].Summary!, joined[i].First.Summary!);
            Assert.Equal(alone[i].Id, joined[i].First.Id);
            for (int h = 0; h < heads.Length; h++)
            {
                Assert.Equal(expected.TopPositions(h).ToArray(), got.TopPositions(h).ToArray());
                for (int s = 0; s < 5; s++)
                    Assert.InRange(Math.Abs(expected.SegmentMass(h)[s] - got.SegmentMass(h)[s]), 0, 1e-4);
            }
        }
    }

    [Fact]
    public void CompressedRowsJoinOneByOneAndBadRequestsTakeNoRow()
    {
        using var model = TinyModels.Create();
        var policy = new KvCachePolicy
        {
            Kind = CacheKind.HeadAware, SinkTokens = 2, Window = 4, FullKvHeads = [new KvHead(0, 1)],
        };
        var requests = Prompts.Select((p, i) => new JoinRequest(p, Options(i), [])).ToArray();
        using var oneByOne = new BatchDecoder(model, 5, 32, policy);
        var expected = requests.Select(r => oneByOne.Join(r.Prompt, r.Options, r.StopTokenIds).First.Id).ToArray();
        using var together = new BatchDecoder(model, 5, 32, policy) { BatchesPrefills = true };
        Assert.Equal(expected, together.JoinAll(requests).Select(j => j.First.Id));

        using var batch = new BatchDecoder(model, 2, 16) { BatchesPrefills = true };
        using var onCpu = new BatchDecoder(model, 1, 8);
        Assert.False(onCpu.BatchesPrefills);
        Assert.Throws<InvalidOperationException>(() => batch.JoinAll(requests));
        var tooLong = new JoinRequest(Enumerable.Range(1, 15).ToArray(),
            new GenerationOptions { MaxNewTokens = 4 }, []);
        Assert.Throws<ArgumentException>(() => batch.JoinAll([requests[1], tooLong]));
        Assert.Equal(0, batch.Active);
        Assert.Empty(batch.JoinAll([]));
    }
}

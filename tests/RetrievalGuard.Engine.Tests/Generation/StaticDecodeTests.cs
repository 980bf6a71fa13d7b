using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Native;
using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Engine.Tests.Support;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Tests.Generation;

/// <summary>
/// The static decode step (what CUDA graphs replay), checked against the general forward pass on CPU.
/// </summary>
public class StaticDecodeTests
{
    private static readonly int[] Prompt = [5, 17, 3, 44, 9, 61, 2];

    private static List<TokenStep> Generate(LlamaModel model, GenerationOptions options, int[]? prompt = null)
    {
        using var cache = model.CreateCache(64);
        return TokenGenerator.Generate(model, prompt ?? Prompt, cache, options, []).ToList();
    }

    [Theory]
    [InlineData(false, false, null)]
    [InlineData(true, true, null)]
    [InlineData(false, false, 4)] // sliding window shorter than the sequence
    public void StaticStepMatchesTheGeneralPath(bool bias, bool tie, int? window)
    {
        using var model = TinyModels.Create(TinyModels.Config(bias: bias, tie: tie, slidingWindow: window));
        var fast = Generate(model, new GenerationOptions { MaxNewTokens = 20 });
        var general = Generate(model, new GenerationOptions { MaxNewTokens = 20, ForceGeneralPath = true });
        Assert.Equal(general.Select(s => s.Id), fast.Select(s => s.Id));
        Assert.Equal(general.Select(s => s.Position), fast.Select(s => s.Position));
        for (int i = 0; i < fast.Count; i++)
        {
            Close(general[i].LogProb, fast[i].LogProb, 1e-4);
            Close(general[i].Entropy, fast[i].Entropy, 1e-4);
        }
    }

    [Fact]
    public void SampledTokensMatchTheGeneralPathForASeed()
    {
        using var model = TinyModels.Create();
        var options = new GenerationOptions { MaxNewTokens = 16, Temperature = 1.3f, TopP = 0.9f, TopK = 20, Seed = 7 };
        Assert.Equal(
            Generate(model, options with { ForceGeneralPath = true }).Select(s => s.Id),
            Generate(model, options).Select(s => s.Id));
    }

    [Fact]
    public void ProbeRowsAndHeadMaskMatchTheGeneralPath()
    {
        using var model = TinyModels.Create();
        HeadIndex[] heads = [new(0, 1), new(1, 3)];
        using var probe = model.CreateProbe(heads);
        var mask = model.CreateHeadMask([new HeadIndex(1, 0)]);
        var fast = Generate(model, new GenerationOptions { MaxNewTokens = 8, Probe = probe, HeadMask = mask });
        var general = Generate(
            model, new GenerationOptions { MaxNewTokens = 8, Probe = probe, HeadMask = mask, ForceGeneralPath = true });
        Assert.Equal(general.Select(s => s.Id), fast.Select(s => s.Id));
        for (int i = 0; i < fast.Count; i++)
            for (int h = 0; h < heads.Length; h++)
            {
                Assert.Equal(Prompt.Length + i, fast[i].Attention![h].Length);
                for (int p = 0; p < fast[i].Attention![h].Length; p++)
                    Close(general[i].Attention![h][p], fast[i].Attention![h][p], 1e-4);
            }
    }

    [Fact]
    public void SummaryHoldsTheTopPositionsAndTheMassPerSegment()
    {
        using var model = TinyModels.Create();
        using var probe = new AttentionProbe(
            [new HeadIndex(0, 2), new HeadIndex(1, 1), new HeadIndex(1, 2)], 2, 4) { TopK = 3 };
        // Prompt positions 0–1 are segment 0, 2–4 segment 1, 5–6 segment 2; generated positions default to 3.
        probe.SetSegments([0, 0, 1, 1, 1, 2, 2], segmentCount: 4, defaultSegment: 3);
        var steps = Generate(model, new GenerationOptions { MaxNewTokens = 6, Probe = probe });
        int[] segmentOf(int position) => [position < 2 ? 0 : position < 5 ? 1 : position < 7 ? 2 : 3];
        foreach (var step in steps)
        {
            var summary = step.Summary!;
            Assert.Equal(3, summary.Heads);
            for (int h = 0; h < 3; h++)
            {
                var row = step.Attention![h];
                var expectedTop = Enumerable.Range(0, row.Length).OrderByDescending(p => row[p]).Take(3).ToArray();
                for (int k = 0; k < 3; k++) Close(row[expectedTop[k]], summary.TopWeights(h)[k], 1e-5);
                Close(row[summary.TopPositions(h)[0]], row.Max(), 1e-5);
                var mass = new float[4];
                for (int p = 0; p < row.Length; p++) mass[segmentOf(p)[0]] += row[p];
                for (int s = 0; s < 4; s++) Close(mass[s], summary.SegmentMass(h)[s], 1e-4);
                Close(1f, summary.SegmentMass(h).ToArray().Sum(), 1e-4);
            }
        }
    }

    [Fact]
    public void SummaryWithoutRowsSendsNoRows()
    {
        using var model = TinyModels.Create();
        using var probe = new AttentionProbe([new HeadIndex(1, 1)], 2, 4) { TopK = 10, KeepRows = false };
        var steps = Generate(model, new GenerationOptions { MaxNewTokens = 4, Probe = probe }, prompt: [4, 8]);
        Assert.All(steps, s => Assert.Null(s.Attention));
        // Fewer positions than K: the rest is padded with position −1 and weight 0.
        var first = steps[0].Summary!;
        Assert.Equal(-1, first.TopPositions(0)[^1]);
        Assert.Equal(0f, first.TopWeights(0)[^1]);
        Close(1f, first.TopWeights(0).ToArray().Sum(), 1e-4);
    }

    [Fact]
    public void ACallerThatStopsEarlyLeavesNothingBehindForTheNextGeneration()
    {
        using var model = TinyModels.Create();
        // The full cache, and a compressed one whose rings wrap (the abandoned step writes into a ring slot).
        var compressed = new KvCachePolicy
        {
            Kind = CacheKind.HeadAware, SinkTokens = 2, Window = 4, FullKvHeads = [new KvHead(0, 1)],
        };
        foreach (var kind in new[] { KvCachePolicy.Full, compressed })
        {
            List<int> expected;
            using (var fresh = model.CreateCache(kind, 64))
                expected = TokenGenerator.Generate(model, Prompt, fresh, new GenerationOptions { MaxNewTokens = 12 },
                    []).Select(s => s.Id).ToList();
            using var cache = model.CreateCache(kind, 64);
            // Stop after three tokens: the fourth step was already launched and is abandoned.
            var first = TokenGenerator.Generate(model, Prompt, cache, new GenerationOptions { MaxNewTokens = 12 }, [])
                .Take(3).Select(s => s.Id).ToList();
            Assert.Equal(expected.Take(3), first);
            cache.Truncate(0);
            var again = TokenGenerator.Generate(model, Prompt, cache, new GenerationOptions { MaxNewTokens = 12 }, [])
                .Select(s => s.Id).ToList();
            Assert.Equal(expected, again);
        }
    }

    [Fact]
    public void OnlyTheLastLaunchedStepCanBeCollectedAndOnlyOnce()
    {
        using var model = TinyModels.Create();
        using var cache = model.CreateCache(32);
        TokenGenerator.Generate(model, Prompt, cache, new GenerationOptions { MaxNewTokens = 1 }, []).ToList();
        var runner = DecodeRunner.For(model, cache.Storage);
        var options = new GenerationOptions();
        var old = runner.Launch([new DecodeRequest(0, 5, Prompt.Length, options)]);
        var current = runner.Launch([new DecodeRequest(0, 5, Prompt.Length, options)]);
        var stale = Assert.Throws<InvalidOperationException>(() => runner.Collect(old));
        Assert.Contains("last launched", stale.Message, StringComparison.Ordinal);
        Assert.Single(runner.Collect(current));
        Assert.Throws<InvalidOperationException>(() => runner.Collect(current));
    }

    [Fact]
    public void BatchedSequencesGiveTheTokensEachGetsAlone()
    {
        using var model = TinyModels.Create();
        int[][] prompts = [[5, 17, 3], [44, 9, 61, 2, 8, 13, 21], [1], [70, 71, 72, 73, 74]];
        int[] lengths = [9, 4, 12, 6];
        var alone = prompts
            .Select((p, i) => Generate(model, new GenerationOptions { MaxNewTokens = lengths[i] }, p)
                .Select(s => s.Id)
                .ToList())
            .ToList();

        using var batch = new BatchDecoder(model, maxSequences: 3, capacityPerSequence: 32);
        var sequences = new List<BatchSequence>();
        int next = 0;
        while (next < prompts.Length || batch.Active > 0)
        {
            // Join whenever a row is free: the fourth request takes the row of the first to finish.
            while (next < prompts.Length && batch.HasFreeRow)
            {
                sequences.Add(
                    batch.Join(prompts[next], new GenerationOptions { MaxNewTokens = lengths[next] }, []).Sequence);
                next++;
            }
            batch.Step();
        }
        for (int i = 0; i < prompts.Length; i++)
            Assert.Equal(alone[i], sequences[i].Generated);
        Assert.True(sequences.All(s => s.Finished));
        Assert.Contains(sequences[3].Row, sequences.Take(3).Select(s => s.Row));
    }

    [Fact]
    public void BatchedStepsReportWhatTheProbeKeepsForEveryRow()
    {
        using var model = TinyModels.Create();
        using var probe = new AttentionProbe([new HeadIndex(0, 1), new HeadIndex(1, 2)], 2, 4) { TopK = 2 };
        using var batch = new BatchDecoder(model, maxSequences: 2, capacityPerSequence: 32);
        var a = batch.Join([5, 17, 3], new GenerationOptions { MaxNewTokens = 4 }, []).Sequence;
        var b = batch.Join([44, 9, 61, 2, 8], new GenerationOptions { MaxNewTokens = 4 }, []).Sequence;
        var steps = batch.Step(probe);
        Assert.Equal(2, steps.Count);
        foreach (var (sequence, step) in steps)
        {
            int length = sequence.PromptLength + 1; // the first generated token is fed at position PromptLength
            Assert.Equal(length, step.Attention![0].Length);
            Assert.Equal(1f, step.Attention[1].Sum(), 3);
            Assert.InRange(step.Summary!.TopPositions(0)[0], 0, length - 1);
        }
        Assert.Throws<NotSupportedException>(
            () => batch.Join([1], new GenerationOptions { MaxNewTokens = 1, Probe = probe }, []));
    }

    [Fact]
    public void BatchedRowsReportTheSegmentMassesEachGetsAlone()
    {
        using var model = TinyModels.Create();
        HeadIndex[] heads = [new(0, 1), new(1, 2), new(1, 3)];
        // Two prompts with their own layouts and segment counts; the batch probe reports 5 masses per row.
        (int[] Prompt, int[] Segments, int Count)[] requests =
        [
            ([5, 17, 3, 44, 9], [0, 1, 1, 2, 2], 4),
            ([61, 2, 8, 13, 21, 34, 55], [0, 0, 1, 2, 3, 3, 0], 5),
        ];
        var alone = requests.Select(r =>
        {
            using var probe = new AttentionProbe(heads, 2, 4) { TopK = 1, KeepRows = false };
            probe.SetSegments(r.Segments, r.Count, defaultSegment: r.Count - 1);
            return Generate(model, new GenerationOptions { MaxNewTokens = 5, Probe = probe }, r.Prompt);
        }).ToList();

        using var batchProbe = new AttentionProbe(heads, 2, 4) { TopK = 1, KeepRows = false, RowSegmentCount = 5 };
        using var batch = new BatchDecoder(model, maxSequences: 3, capacityPerSequence: 32);
        var steps = requests.Select(_ => new List<TokenStep>()).ToList();
        var rows = new List<BatchSequence>();
        foreach (var r in requests)
        {
            batchProbe.SetRowSegments(batch.FreeRow!.Value, r.Segments, defaultSegment: r.Count - 1);
            var (sequence, first) = batch.Join(r.Prompt, new GenerationOptions { MaxNewTokens = 5 }, [], batchProbe);
            rows.Add(sequence);
            steps[rows.Count - 1].Add(first);
        }
        while (batch.Active > 0)
            foreach (var (sequence, step) in batch.Step(batchProbe))
                steps[rows.IndexOf(sequence)].Add(step);

        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(alone[i].Select(s => s.Id), steps[i].Select(s => s.Id));
            for (int t = 0; t < alone[i].Count; t++)
                for (int h = 0; h < heads.Length; h++)
                {
                    var expected = alone[i][t].Summary!;
                    var got = steps[i][t].Summary!;
                    Assert.Equal(5, got.Segments);
                    Assert.Equal(expected.TopPositions(h)[0], got.TopPositions(h)[0]);
                    for (int s = 0; s < 5; s++)
                        Close(s < requests[i].Count ? expected.SegmentMass(h)[s] : 0f, got.SegmentMass(h)[s], 1e-4);
                }
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => batchProbe.SetRowSegments(0, [0, 5], defaultSegment: 0));
        using var plain = new AttentionProbe(heads, 2, 4);
        Assert.Throws<InvalidOperationException>(() => plain.SetRowSegments(0, [0], defaultSegment: 0));
    }

    [Fact]
    public void StepsRunEagerlyOnTheCpuAndSayWhy()
    {
        using var model = TinyModels.Create();
        using var cache = model.CreateCache(16);
        var runner = DecodeRunner.For(model, cache.Storage);
        Assert.False(runner.UsesGraphs);
        Assert.Equal("not a CUDA device", runner.GraphsUnavailableReason);
        Assert.Same(runner, DecodeRunner.For(model, cache.Storage));
        Assert.Throws<ArgumentOutOfRangeException>(
            () => runner.Step([new DecodeRequest(0, 1, 16, new GenerationOptions())]));
        Assert.Throws<ArgumentOutOfRangeException>(
            () => runner.Step([new DecodeRequest(1, 1, 0, new GenerationOptions())]));
        Assert.Contains("requested twice", Assert.Throws<ArgumentException>(() =>
            runner.Step(
            [
                new DecodeRequest(0, 1, 0, new GenerationOptions()),
                new DecodeRequest(0, 2, 1, new GenerationOptions())
            ])).Message);
    }

    [Fact]
    public void BatchRejectsWhatDoesNotFit()
    {
        using var model = TinyModels.Create();
        using var batch = new BatchDecoder(model, maxSequences: 1, capacityPerSequence: 8);
        Assert.Contains(
            "per-sequence capacity 8",
            Assert.Throws<ArgumentException>(
                () => batch.Join([1, 2, 3], new GenerationOptions { MaxNewTokens = 6 }, [])).Message);
        Assert.Contains(
            "outside the vocabulary",
            Assert.Throws<ArgumentOutOfRangeException>(
                () => batch.Join([1, 500], new GenerationOptions { MaxNewTokens = 1 }, [])).Message);
        Assert.Throws<ArgumentException>(() => batch.Join([], new GenerationOptions { MaxNewTokens = 1 }, []));
        batch.Join([1, 2], new GenerationOptions { MaxNewTokens = 3 }, []);
        Assert.Contains(
            "All 1 rows are busy",
            Assert.Throws<InvalidOperationException>(
                () => batch.Join([1], new GenerationOptions { MaxNewTokens = 1 }, [])).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => DecodeRunner
            .For(model, new KvStorage(2, 1, 2, 8, 4, ScalarType.Float32, CPU))
            .Step([new DecodeRequest(0, 500, 0, new GenerationOptions())]));
    }

    [Fact]
    public void FusedRmsNormIsUsedAndMatchesTheComposite()
    {
        Assert.Null(AtenOps.Unavailable);
        using var norm = new RmsNorm(64, 1e-5, ScalarType.Float32, CPU);
        using var _ = no_grad();
        norm.weight.copy_(randn(64));
        var x = randn(3, 5, 64);
        var expected = norm.weight * (x * rsqrt((x * x).mean([-1], keepdim: true).Plus(Scalars.Of(1e-5))));
        var fused = AtenOps.RmsNorm(x, norm.weight, 1e-5, () => expected);
        Assert.NotNull(fused);
        Assert.True((fused! - expected).abs().max().item<float>() < 1e-5);
        Assert.True((norm.forward(x) - expected).abs().max().item<float>() < 1e-5);
    }

    [Theory]
    [InlineData(0, 40)]   // from a chunk boundary: two whole chunks and a partial one
    [InlineData(5, 30)]   // a partial first chunk, a whole chunk, a partial last chunk
    [InlineData(3, 4)]    // inside one chunk
    public void ValuesWrittenInChunksReadBackInOrder(int start, int tokens)
    {
        using var storage = new KvStorage(
            numLayers: 1, rows: 3, numKvHeads: 2, headDim: 4, capacity: 64, ScalarType.Float32, CPU);
        Assert.Equal(16, storage.ChunkLength);
        var keys = randn(2, 2, tokens, 4);
        var values = randn(2, 2, tokens, 4);
        var prefix = randn(2, 2, start, 4);
        if (start > 0) storage.Write(0, 1, prefix, prefix, 0);
        var view = storage.Write(0, 1, keys, values, start);
        var expected = start > 0 ? cat([prefix, values], 2) : values;
        Assert.Equal(expected.shape, view.Values.shape);
        Assert.True(view.Values.allclose(expected));
        Assert.True(storage.ValuesOf(0, 1, 2, start + tokens).allclose(expected));
        Assert.True(storage.ValuesOf(0, 0, 1, start + tokens).abs().max().item<float>() == 0); // row 0 untouched
    }

    private static void Close(float expected, float actual, double tolerance) =>
        Assert.True(
            Math.Abs(expected - actual) <= tolerance,
            $"expected {expected}, got {actual} (tolerance {tolerance})");

    [Fact]
    public void BaddbmmComputesBiasPlusScaledProduct()
    {
        var bias = randn(2, 1, 5);
        var a = randn(2, 3, 4);
        var b = randn(2, 4, 5);
        var expected = bias.Plus(matmul(a, b) * Scalars.Of(0.25f));
        Assert.True((TorchSharpFixes.Baddbmm(bias, a, b, 1, 0.25f) - expected).abs().max().item<float>() < 1e-5);
    }
}

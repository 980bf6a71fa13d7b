using System.Diagnostics;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Tests.Generation;

/// <summary>
/// Runs alone: the memory test reads the process's resident size, which parallel tests would disturb.
/// </summary>
[CollectionDefinition(nameof(SerialTests), DisableParallelization = true)]
public sealed class SerialTests;

[Collection(nameof(SerialTests))]
public class TokenGeneratorTests
{
    private static readonly int[] Prompt = [5, 17, 3, 44, 9];

    private static List<TokenStep> Run(LlamaModel model, GenerationOptions options,
        IReadOnlyCollection<int>? stops = null, int capacity = 64)
    {
        using var cache = model.CreateCache(capacity);
        return TokenGenerator.Generate(model, Prompt, cache, options, stops ?? []).ToList();
    }

    [Fact]
    public void GreedyIsTheArgmaxOfAFullPassAtEveryStep()
    {
        using var model = TinyModels.Create();
        var steps = Run(model, new GenerationOptions { MaxNewTokens = 10 });
        Assert.Equal(10, steps.Count);
        var sequence = Prompt.ToList();
        using var _ = no_grad();
        foreach (var step in steps)
        {
            var logits =
                model.forward(tensor(sequence.Select(i => (long)i).ToArray(), dtype: int64).unsqueeze(0))[0, -1];
            Assert.Equal(logits.argmax().item<long>(), step.Id);
            var logProbs = logits.log_softmax(0);
            Assert.Equal(logProbs[step.Id].item<float>(), step.LogProb, 4);
            Assert.Equal(-(logProbs.exp() * logProbs).sum().item<float>(), step.Entropy, 4);
            Assert.Equal(sequence.Count, step.Position);
            sequence.Add(step.Id);
        }
    }

    [Fact]
    public void SamplingIsReproducibleForASeedAndVariesAcrossSeeds()
    {
        using var model = TinyModels.Create();
        var a = Run(model, new GenerationOptions { MaxNewTokens = 12, Temperature = 1.5f, Seed = 11 })
            .Select(s => s.Id).ToList();
        var b = Run(model, new GenerationOptions { MaxNewTokens = 12, Temperature = 1.5f, Seed = 11 })
            .Select(s => s.Id).ToList();
        Assert.Equal(a, b);
        var others = Enumerable.Range(20, 4).Select(seed =>
            Run(model, new GenerationOptions { MaxNewTokens = 12, Temperature = 1.5f, Seed = seed })
                .Select(s => s.Id).ToList());
        Assert.Contains(others, o => !o.SequenceEqual(a));
    }

    [Fact]
    public void TopKOfOneAndTinyTopPAreGreedy()
    {
        using var model = TinyModels.Create();
        var greedy = Run(model, new GenerationOptions { MaxNewTokens = 8 }).Select(s => s.Id);
        Assert.Equal(greedy,
            Run(model, new GenerationOptions { MaxNewTokens = 8, Temperature = 2, TopK = 1, Seed = 3 })
                .Select(s => s.Id));
        Assert.Equal(greedy,
            Run(model, new GenerationOptions { MaxNewTokens = 8, Temperature = 2, TopP = 1e-6f, Seed = 3 })
                .Select(s => s.Id));
    }

    [Fact]
    public void TopKNeverPicksOutsideTheKMostLikely()
    {
        var logits = tensor(new float[] { 0f, 5f, 1f, 4.9f, -3f }).unsqueeze(0);
        var seen = new HashSet<int>();
        using var generator = new Generator(5);
        for (int i = 0; i < 200; i++)
            seen.Add((int)Sampler.Sample(logits, new GenerationOptions { Temperature = 5, TopK = 2 }, generator)[0, 0]
                .item<float>());
        Assert.Equal(new HashSet<int> { 1, 3 }, seen);
    }

    [Fact]
    public void StopsAtAStopTokenAndFlagsIt()
    {
        using var model = TinyModels.Create();
        var free = Run(model, new GenerationOptions { MaxNewTokens = 6 });
        int stopId = free[2].Id;
        int firstStop = free.FindIndex(s => s.Id == stopId);
        var stopped = Run(model, new GenerationOptions { MaxNewTokens = 6 }, stops: [stopId]);
        Assert.Equal(firstStop + 1, stopped.Count);
        Assert.True(stopped[^1].IsStop);
        Assert.All(stopped.SkipLast(1), s => Assert.False(s.IsStop));
    }

    [Fact]
    public void PrefillInChunksGivesTheSameTokens()
    {
        using var model = TinyModels.Create();
        var whole = Run(model, new GenerationOptions { MaxNewTokens = 6 }).Select(s => s.Id);
        Assert.Equal(whole, Run(model, new GenerationOptions { MaxNewTokens = 6, PrefillChunk = 2 }).Select(s => s.Id));
    }

    [Fact]
    public void BadRequestsAreRefusedBeforeAnyWork()
    {
        using var model = TinyModels.Create();
        using var cache = model.CreateCache(8);
        Assert.Contains("exceed the cache capacity 8", Assert.Throws<ArgumentException>(() =>
            TokenGenerator.Generate(model, Prompt, cache, new GenerationOptions { MaxNewTokens = 4 }, [])).Message);
        Assert.Contains("outside the vocabulary", Assert.Throws<ArgumentOutOfRangeException>(() =>
            TokenGenerator.Generate(model, [1, 500], cache, new GenerationOptions { MaxNewTokens = 1 }, [])).Message);
        Assert.Throws<ArgumentException>(() => TokenGenerator.Generate(model, [], cache, new GenerationOptions(), []));
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            TokenGenerator.Generate(model, Prompt, cache, new GenerationOptions { TopP = 0 }, []));
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            TokenGenerator.Generate(model, Prompt, cache, new GenerationOptions { Temperature = -1 }, []));
    }

    [Fact]
    public void CancellationStopsBetweenTokens()
    {
        using var model = TinyModels.Create();
        using var cache = model.CreateCache(64);
        using var cts = new CancellationTokenSource();
        int seen = 0;
        Assert.Throws<OperationCanceledException>(() =>
        {
            foreach (var _ in TokenGenerator.Generate(model, Prompt, cache, new GenerationOptions { MaxNewTokens = 50 },
                [], cts.Token))
                if (++seen == 3) cts.Cancel();
        });
        Assert.Equal(3, seen);
    }

    [Fact]
    public void NativeMemoryStaysFlatOverThousandsOfDecodeSteps()
    {
        using var model = TinyModels.Create(TinyModels.Config(layers: 1));
        using var probe = model.CreateProbe([new Probes.HeadIndex(0, 1)]);
        var options = new GenerationOptions { MaxNewTokens = 2500, Temperature = 0.8f, TopP = 0.9f, Probe = probe };
        using var cache = model.CreateCache(2600);
        int steps = 0;
        long rssAfterWarmup = 0, liveAfterWarmup = 0;
        foreach (var _ in TokenGenerator.Generate(model, Prompt, cache, options, []))
        {
            if (++steps == 500)
            {
                // By now the one-time tensors exist (rope tables, probe indices, the probe's latest weights).
                GC.Collect();
                rssAfterWarmup = Process.GetCurrentProcess().WorkingSet64;
                liveAfterWarmup = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
            }
        }
        Assert.Equal(2500, steps);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        // Mid-stream one launched step is held (its logits and probe columns): at the end it is gone, nothing else.
        Assert.Equal(liveAfterWarmup - 2, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        long growth = Process.GetCurrentProcess().WorkingSet64 - rssAfterWarmup;
        Assert.True(growth < 64L << 20, $"resident memory grew by {growth >> 20} MiB over 2,000 steps");
    }
}

using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Native;
using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Engine.Tests.Support;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Tests.Native;

/// <summary>
/// The engine never lets TorchSharp make a Scalar that a garbage collection can free during the native call
/// (<see cref="Scalars"/>): the compiled engine is read for such places, and the model runs under constant
/// collections and must give the same numbers.
/// </summary>
public class ScalarsTests
{
    [Fact]
    public void EngineHandsLibtorchOnlyScalarsThatStayAlive() =>
        Assert.Empty(ScalarLifetimeScan.Problems(typeof(LlamaModel).Assembly));

    /// <summary>Tests run in parallel under each other's garbage, so they follow the rule too.</summary>
    [Fact]
    public void TheseTestsHandLibtorchOnlyScalarsThatStayAlive()
    {
        var outsideTheLeakySamples = ScalarLifetimeScan.Problems(typeof(ScalarsTests).Assembly)
            .Where(p => !p.Contains(nameof(Leaky))).ToList();
        Assert.Empty(outsideTheLeakySamples);
    }

    [Fact]
    public void ScanFindsEachKindOfTemporaryScalar()
    {
        var problems = ScalarLifetimeScan.Problems(typeof(ScalarsTests).Assembly)
            .Where(p => p.Contains(nameof(Leaky))).ToList();
        Assert.Contains(problems, p => p.Contains("a number becomes a temporary Scalar"));
        Assert.Contains(problems, p => p.Contains("a Scalar local is never disposed"));
        Assert.Contains(problems, p => p.Contains("op_Addition(Tensor, Tensor) makes a temporary Scalar"));
        Assert.DoesNotContain(ScalarLifetimeScan.Problems(typeof(ScalarsTests).Assembly),
            p => p.Contains(nameof(Careful)));
    }

    private static class Leaky
    {
        public static Tensor Scaled(Tensor x) => x * Scalar(0.5);
        public static Tensor Masked(Tensor x, Tensor mask) => x.masked_fill(mask, double.NegativeInfinity);
        public static Tensor Kept(Tensor x)
        {
            var half = 0.5.ToScalar();
            return x.mul(half);
        }
        public static Tensor Sum(Tensor a, Tensor b) => a + b;
        private static Scalar Scalar(double v) => v;
    }

    private static class Careful
    {
        public static Tensor Scaled(Tensor x) => x * Scalars.Of(0.5);
        public static Tensor Sum(Tensor a, Tensor b) => a.Plus(b);
        public static Tensor Shifted(Tensor x, long by)
        {
            using var shift = by.ToScalar();
            return x - shift;
        }
    }

    [Fact]
    public void RangeAndPlusGiveArangeAndAdd()
    {
        Assert.Equal(new long[] { 3, 4, 5 }, Scalars.Range(3, 6).data<long>().ToArray());
        Assert.Equal(float32, Scalars.Range(4, dtype: float32).dtype);
        var a = tensor(new[] { 1f, 2f });
        Assert.Equal(new[] { 2f, 4f }, a.Plus(a).data<float>().ToArray());
        Assert.Equal(new[] { 1.5f, 2.5f }, a.Plus(Scalars.Of(0.5)).data<float>().ToArray());
        Assert.Same(Scalars.Of(7L), Scalars.Of(7L));
    }

    /// <summary>Prefill, the static step (with a probe), the general step over a head-aware cache, a batch of
    /// head-aware rows, prompts joined together and teacher-forced scoring with a probe (the guard's paths), each run
    /// again and again while another thread collects garbage without pause.</summary>
    [Fact]
    public async Task ModelUnderConstantCollectionsGivesTheSameNumbers()
    {
        using var model = TinyModels.Create(TinyModels.Config(slidingWindow: 9));
        using var _ = no_grad();
        using var probe = new AttentionProbe([new HeadIndex(0, 1), new HeadIndex(1, 2)], 2, 4) { TopK = 2 };
        var headAware = new KvCachePolicy
        {
            Kind = CacheKind.HeadAware, SinkTokens = 2, Window = 4, FullKvHeads = [new KvHead(0, 1)],
        };
        int[] prompt = [5, 17, 3, 44, 9, 61, 2, 8, 13, 21, 1, 70];
        var tokens = tensor(prompt.Select(t => (long)t).ToArray()).unsqueeze(0);
        Func<string>[] paths =
        [
            () => Digest(model.forward(tokens)),
            () => Digest(Generate(model, model.CreateCache(32), prompt, probe, general: false)),
            () => Digest(Generate(model, model.CreateCache(headAware, 32), prompt, probe, general: true)),
            () => Digest(Batch(model, headAware, prompt)),
            () => Digest(Batch(model, KvCachePolicy.Full, prompt, together: true)),
            () => Digest(Score(model, prompt)),
        ];
        var expected = paths.Select(p => p()).ToArray();

        using var stop = new CancellationTokenSource();
        var collector = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        });
        try
        {
            for (int round = 0; round < 40; round++)
                for (int p = 0; p < paths.Length; p++)
                    Assert.True(expected[p] == paths[p](), $"path {p} differs in round {round}");
        }
        finally
        {
            stop.Cancel();
            await collector;
        }
    }

    private static List<TokenStep> Generate(LlamaModel model, IKvCache cache, int[] prompt, AttentionProbe probe,
        bool general)
    {
        using (cache)
        {
            var options = new GenerationOptions
            {
                MaxNewTokens = 10, PrefillChunk = 5, Probe = probe, ForceGeneralPath = general,
            };
            return TokenGenerator.Generate(model, prompt, cache, options, []).ToList();
        }
    }

    private static List<TokenStep> Batch(LlamaModel model, KvCachePolicy policy, int[] prompt, bool together = false)
    {
        using var batch = new BatchDecoder(model, 2, 32, policy) { BatchesPrefills = together };
        var options = new GenerationOptions { MaxNewTokens = 8, PrefillChunk = 5 };
        var steps = batch.JoinAll([new JoinRequest(prompt, options, []), new JoinRequest(prompt[3..], options, [])])
            .Select(j => j.First).ToList();
        while (batch.Active > 0) steps.AddRange(batch.Step().Select(s => s.Step));
        return steps;
    }

    private static List<TokenStep> Score(LlamaModel model, int[] prompt)
    {
        using var probe = new AttentionProbe([new HeadIndex(0, 1), new HeadIndex(1, 2)], 2, 4, queryTokens: 4)
        {
            TopK = 2,
        };
        return TeacherForcing.Score(model, prompt, prompt.Length - 4, probe).ToList();
    }

    private static string Digest(Tensor logits)
    {
        using (logits)
            return string.Join(",", logits.to(float64).data<double>().ToArray().Select(v => v.ToString("F5")));
    }

    private static string Digest(List<TokenStep> steps) =>
        string.Join(";", steps.Select(s => $"{s.Id}:{s.LogProb:F5}:{s.Entropy:F5}:" +
            string.Join(",", (s.Attention ?? []).SelectMany(row => row).Select(v => v.ToString("F4")))));
}

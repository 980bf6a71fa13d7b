using System.Diagnostics;
using System.Text.Json.Nodes;
using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Tokenization;
using RetrievalGuard.Guard;
using RetrievalGuard.Guard.Prompting;
using RetrievalGuard.Guard.Risk;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Benchmarks;

/// <summary>
/// What the guard costs on a model shape with random weights, against the same work without it, in one run:
/// streaming (the model answers a RAG prompt; the guard watches its heads and computes the risk after every token)
/// against the same streaming without the guard (token ids to text, one yield per token, as a user streams an
/// answer), with the bare token loop (ids only) beside it, and teacher-forced scoring of a given answer against a
/// plain prefill of the same tokens.
/// The guard watches the head map's top heads (5% of all); the calibrator is a stand-in (cost does not depend on it).
/// </summary>
public static class GuardCostBenchmark
{
    public sealed record Settings(string Shape, int? Layers, string Device, string DType, string Tokenizer,
        string HeadMap, string Corpus, int[] StreamContexts, int ScoreContext, int AnswerTokens, int StreamTokens,
        double HeadShare);

    public static JsonObject Run(Settings s)
    {
        using var network = Bench.RandomModel(s.Shape, s.Layers, s.Device, s.DType);
        var tokenizer = ModelTokenizer.Load(s.Tokenizer);
        using var model = LanguageModel.FromNetwork(network, tokenizer);
        var map = HeadMap.Load(s.HeadMap);
        var heads = Math.Max(1, (int)Math.Round(s.HeadShare * network.Config.NumLayers * network.Config.NumHeads));
        var guard = new HallucinationGuard(model, map, StandIn(), new GuardOptions { Heads = heads });
        var text = File.ReadAllText(s.Corpus);
        var result = new JsonObject
        {
            ["shape"] = s.Shape, ["layers"] = network.Config.NumLayers, ["device"] = s.Device,
            ["dtype"] = network.DType.ToString(), ["guard_heads"] = guard.Heads.Count,
            ["prompt_style"] = guard.Prompts.Style.ToString(),
        };

        var streaming = new JsonArray();
        foreach (var context in s.StreamContexts)
        {
            var (passages, question) = Prompt(tokenizer, text, context);
            var prompt = guard.Prompt(passages, question);
            // Warm every path at this length (allocator, graphs), then time each twice and keep the faster.
            TokenLoop(model, prompt.Ids, 8);
            Streamed(model, prompt.Ids, 8);
            Guarded(guard, passages, question, 8);
            double Best(Func<double> run) => Math.Max(run(), run());
            var loop = Best(() => TokenLoop(model, prompt.Ids, s.StreamTokens));
            var plain = Best(() => Streamed(model, prompt.Ids, s.StreamTokens));
            var guarded = Best(() => Guarded(guard, passages, question, s.StreamTokens));
            streaming.Add(new JsonObject
            {
                ["context"] = prompt.Length, ["tokens"] = s.StreamTokens, ["token_loop_tok_s"] = Math.Round(loop, 1),
                ["plain_tok_s"] = Math.Round(plain, 1), ["guarded_tok_s"] = Math.Round(guarded, 1),
                ["slowdown_percent"] = Math.Round(100 * (1 - (guarded / plain)), 1),
                ["slowdown_vs_token_loop_percent"] = Math.Round(100 * (1 - (guarded / loop)), 1),
            });
            Console.Error.WriteLine($"streaming at {prompt.Length}: plain {plain:F1} tok/s, guarded {guarded:F1} "
                + $"tok/s, token loop {loop:F1} tok/s");
        }
        result["streaming"] = streaming;

        var (scorePassages, scoreQuestion) = Prompt(tokenizer, text, s.ScoreContext);
        var answer = tokenizer.Decode(Bench.RandomTokens(s.AnswerTokens, 1000, seed: 5).Select(t => t + 1000))
            .Replace("\n", " ", StringComparison.Ordinal);
        var scorePrompt = guard.Prompt(scorePassages, scoreQuestion);
        var (ids, _) = guard.Prompts.WithAnswer(scorePrompt, answer);
        double Prefill()
        {
            using var cache = network.CreateCache(ids.Count);
            var timer = Stopwatch.StartNew();
            TeacherForcing.Score(network, ids, ids.Count - 1);
            Bench.Synchronize(network.Device);
            return timer.Elapsed.TotalSeconds;
        }
        double Score()
        {
            var timer = Stopwatch.StartNew();
            var report = guard.Score(scorePassages, scoreQuestion, answer);
            Bench.Synchronize(network.Device);
            return report.Tokens.Count > 0 ? timer.Elapsed.TotalSeconds : double.NaN;
        }
        Prefill();
        Score();
        var prefill = Enumerable.Range(0, 3).Select(_ => Prefill()).Order().ElementAt(1);
        var score = Enumerable.Range(0, 3).Select(_ => Score()).Order().ElementAt(1);
        result["teacher_forced"] = new JsonObject
        {
            ["prompt_tokens"] = scorePrompt.Length, ["answer_tokens"] = ids.Count - scorePrompt.Length,
            ["plain_prefill_seconds"] = Math.Round(prefill, 4), ["score_seconds"] = Math.Round(score, 4),
            ["ratio"] = Math.Round(score / prefill, 3),
        };
        Console.Error.WriteLine($"teacher-forced {ids.Count} tokens: prefill {prefill:F3} s, guard score {score:F3} s");
        return result;
    }

    /// <summary>Token ids only, synchronously: the engine's loop with no text and no yield.</summary>
    private static double TokenLoop(LanguageModel model, IReadOnlyList<int> ids, int tokens)
    {
        var options = new GenerationOptions { MaxNewTokens = tokens + 4, StopTokenIds = [] };
        var timer = new Stopwatch();
        var made = 0;
        foreach (var _ in model.GenerateTokens(ids, options))
            if (++made == 4)
                timer.Start();
        return tokens / timer.Elapsed.TotalSeconds;
    }

    /// <summary>Streaming without the guard: what <see cref="Guarded"/> does, less the probe and the risk.</summary>
    private static double Streamed(LanguageModel model, IReadOnlyList<int> ids, int tokens)
    {
        var options = new GenerationOptions { MaxNewTokens = tokens + 4, StopTokenIds = [] };
        var text = new System.Text.StringBuilder();
        return StreamRate(model.GenerateAsync(ids, options, cache: null), token => text.Append(token.Text));
    }

    // The last yield comes after the report, so every counted token includes its risk.
    private static double Guarded(HallucinationGuard guard, IReadOnlyList<Passage> passages, string question,
        int tokens) => StreamRate(guard.AskAsync(passages, question, tokens + 4, stopTokens: []));

    /// <summary>Tokens per second of a stream after its fourth token (prefill and the first steps excluded).</summary>
    private static double StreamRate<T>(IAsyncEnumerable<T> stream, Action<T>? onToken = null)
    {
        var timer = new Stopwatch();
        var made = 0;
        Task.Run(async () =>
        {
            await foreach (var token in stream)
            {
                onToken?.Invoke(token);
                if (++made == 4)
                    timer.Start();
            }
        }).GetAwaiter().GetResult();
        return (made - 4) / timer.Elapsed.TotalSeconds;
    }

    /// <summary>About <paramref name="tokens"/> tokens of novel text as four passages and a question.</summary>
    private static (IReadOnlyList<Passage>, string) Prompt(ModelTokenizer tokenizer, string text, int tokens)
    {
        var words = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        var perPassage = Math.Max(8, tokens / 4);
        var passages = new List<Passage>();
        var at = 0;
        for (var p = 0; p < 4; p++)
        {
            var take = (int)(perPassage / 1.4);
            var passage = string.Join(' ', words.Skip(at).Take(take));
            while (tokenizer.CountTokens(passage) < perPassage && at + take < words.Length)
                passage = string.Join(' ', words.Skip(at).Take(++take));
            at += take;
            passages.Add(new Passage($"{p + 1}", passage));
        }
        return (passages, "What did the letter in the second passage say?");
    }

    private static GuardCalibration StandIn()
    {
        var names = GuardFeatures.Names.ToArray();
        var model = new LogisticModel(names, names.Select(_ => 0.0).ToArray(), names.Select(_ => 1.0).ToArray(),
            names.Select(_ => 0.1).ToArray(), 0.0, 0.01);
        return new GuardCalibration(new HeadMapModel("stand-in", 1, 1, 1, 1, null),
            [new CalibratedMethod(GuardCalibration.GuardMethod, model)], 0.5);
    }
}

using System.Text.Json.Nodes;
using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Generation;

namespace RetrievalGuard.Benchmarks;

/// <summary>
/// Correctness of continuous batching on a device: prompts of different lengths decoded greedily one at a time and
/// together in a <see cref="BatchDecoder"/> (fewer rows than requests, so later requests join rows others left) must
/// give the same tokens.
/// </summary>
public static class BatchCheck
{
    public static JsonObject Run(string modelDirectory, string device, string dtype, int requests, int rows,
        int newTokens)
    {
        using var model = LanguageModel.Load(modelDirectory, new LoadOptions { Device = device, DType = dtype });
        var random = new Random(5);
        var prompts = Enumerable.Range(0, requests)
            .Select(_ => Bench.RandomTokens(random.Next(8, 400), model.Config.VocabSize, random.Next())).ToList();
        var lengths = prompts.Select(_ => random.Next(newTokens / 2, newTokens + 1)).ToList();
        var options = (int i) => new GenerationOptions { MaxNewTokens = lengths[i], StopTokenIds = [] };
        var alone = prompts.Select((p, i) => model.GenerateTokens(p, options(i)).Select(s => s.Id).ToList()).ToList();

        using var batch = new BatchDecoder(model.Network, rows, 400 + newTokens + 8);
        var sequences = new List<BatchSequence>();
        int next = 0;
        while (next < requests || batch.Active > 0)
        {
            while (next < requests && batch.HasFreeRow)
                sequences.Add(batch.Join(prompts[next], options(next++), []).Sequence);
            batch.Step();
        }
        int equal = 0, tokens = 0, matching = 0;
        for (int i = 0; i < requests; i++)
        {
            var got = sequences[i].Generated;
            if (got.SequenceEqual(alone[i])) equal++;
            tokens += alone[i].Count;
            matching += alone[i].Zip(got).TakeWhile(p => p.First == p.Second).Count();
        }
        var result = new JsonObject
        {
            ["model"] = modelDirectory, ["device"] = device, ["dtype"] = model.DType.ToString(), ["rows"] = rows,
            ["requests"] = requests, ["cuda_graphs"] = batch.UsesGraphs,
            ["sequences_identical"] = equal, ["tokens"] = tokens, ["tokens_in_matching_prefixes"] = matching,
        };
        Console.WriteLine($"batched vs alone: {equal}/{requests} sequences identical, "
            + $"{matching}/{tokens} tokens in matching prefixes (graphs: {batch.UsesGraphs})");
        return result;
    }
}

using System.Text.Json.Nodes;
using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Heads.Maps;
using Xunit.Abstractions;

namespace RetrievalGuard.Heads.Tests.Maps;

/// <summary>
/// Fuzzes head-map JSON through <see cref="HeadMap.Load"/> and then uses the map as the guard and the CLI do
/// (ranking, retrieval and always-on heads, top query heads, the fit check, saving): 2,000 inputs, seed 20261207, from
/// the organism's query-head map and the two shipped DuoAttention KV-head maps. Every input must load and work, or be
/// refused with <see cref="InvalidDataException"/> naming the file (the only type <see cref="HeadMapCatalog"/> skips
/// when it searches a folder of maps); see <see cref="FileFuzzer"/>.
/// </summary>
public class HeadMapFuzzTests(ITestOutputHelper output)
{
    public const int Seed = 20261207, Inputs = 2000;

    [Fact]
    public void MutatedHeadMapsAreLoadedOrRefusedNamingTheFile()
    {
        var seeds = new[]
            {
                "organism.json", "Meta-Llama-3.1-8B-Instruct.duoattention.json",
                "Mistral-7B-Instruct-v0.3.duoattention.json"
            }
            .Select(name => new JsonMutator(File.ReadAllText(RepoPaths.Path("headmaps", name)), name)).ToArray();
        var organism = new ModelConfig
        {
            NumLayers = 8, NumHeads = 8, NumKvHeads = 4, HeadDim = 32, HiddenSize = 256, IntermediateSize = 768,
            VocabSize = 4096
        };
        var result = FileFuzzer.Run(new FuzzSuite("head map", Seed, Inputs, "fuzzed.headmap.json",
            (r, i) => r.Next(4) == 0 ? Targeted(r, seeds[i % seeds.Length]) : seeds[i % seeds.Length].Mutate(r),
            (path, i) =>
            {
                var map = HeadMap.Load(path);
                _ = map.Ranked();
                _ = map.RetrievalHeads;
                _ = map.AlwaysOnHeads;
                _ = map.TopQueryHeads(1 + i % 16);
                _ = map.TotalUnits;
                _ = HeadMap.FromJson(map.ToJson(), path);
                try { map.EnsureFits(organism, "sha256:34a995b7fc4502e8c96b728e3ec4fc32", path); }
                catch (InvalidDataException e)
                    when (e.Message.Contains("was made for another model", StringComparison.Ordinal)) { }
            })
        {
            IsRefusal = e => e is InvalidDataException,
        });
        output.WriteLine(result.Report());
        Assert.True(result.Failures.Count == 0, result.Report());
    }

    /// <summary>
    /// The fields a map's use depends on: its model's shape, granularity, version, and the score matrices.
    /// </summary>
    private static FuzzInput Targeted(Random r, JsonMutator seed)
    {
        var json = JsonNode.Parse(seed.SeedText)!.AsObject();
        var done = new List<string>();
        for (int k = 0, edits = 1 + r.Next(2); k < edits; k++)
        {
            switch (r.Next(6))
            {
                case 0:
                {
                    string field = new[] { "layers", "heads", "kv_heads", "head_dim" }[r.Next(4)];
                    string value = new[]
                    {
                        "0", "-1", "1", "3", "7", "2147483647", "-2147483648", "1.5", "\"8\"", "null", "1e999"
                    }[r.Next(11)];
                    json["model"]![field] = JsonMutator.Literal(value);
                    done.Add($"model.{field} = {value}");
                    break;
                }
                case 1:
                {
                    string value = new[] { "\"query_head\"", "\"kv_head\"", "\"head\"", "null", "1", "[]" }[r.Next(6)];
                    json["granularity"] = JsonMutator.Literal(value);
                    done.Add($"granularity = {value}");
                    break;
                }
                case 2:
                {
                    string value =
                        new[] { "0", "2", "1.0", "1.5", "\"1\"", "null", "-1", "2147483648", "true" }[r.Next(9)];
                    json["version"] = JsonMutator.Literal(value);
                    done.Add($"version = {value}");
                    break;
                }
                case 3:
                {
                    // A score: NaN and infinities (as JSON can carry them: strings, or out-of-range literals), or a row
                    // of another length.
                    if (json["scores"] is not JsonArray { Count: > 0 } scores) break;
                    int row = r.Next(scores.Count);
                    if (scores[row] is not JsonArray { Count: > 0 } cells) break;
                    string value = new[]
                    {
                        "\"NaN\"", "NaN", "1e999", "-1e999", "\"Infinity\"", "-1", "2", "null", "[]", "true"
                    }[r.Next(10)];
                    if (value == "NaN")
                    {
                        // A bare NaN, as Python's json.dumps writes it: spliced into the text.
                        return FuzzInput.Text($"{seed.Name}: scores[{row}][0] = NaN (bare)",
                            JsonMutator.Write(json)
                                .Replace("\"scores\":[[", "\"scores\":[[NaN,", StringComparison.Ordinal));
                    }
                    cells[r.Next(cells.Count)] = JsonMutator.Literal(value);
                    done.Add($"scores[{row}][…] = {value}");
                    break;
                }
                case 4:
                {
                    string field = new[] { "scores", "tests_per_head", "activation" }[r.Next(3)];
                    if (json["scores"] is not JsonArray { Count: > 0 } source || source.Any(x => x is not JsonArray))
                        break;
                    JsonNode? value = r.Next(4) switch
                    {
                        0 => new JsonArray([.. source.Take(source.Count - 1).Select(x => x!.DeepClone())]),
                        1 => new JsonArray([.. source.Select(x => x!.DeepClone()), new JsonArray()]),
                        2 => new JsonArray([.. source.Select(x =>
                            (JsonNode?)new JsonArray([.. x!.AsArray().Skip(1).Select(c => c?.DeepClone())]))]),
                        _ => new JsonArray([.. source.Select(x => (JsonNode?)null)]),
                    };
                    json[field] = value;
                    done.Add($"{field} reshaped");
                    break;
                }
                default:
                {
                    string field = new[] { "threshold", "kind", "lengths", "depths", "needles" }[r.Next(5)];
                    string value = JsonMutator.RandomLiteral(r);
                    json["method"]![field] = JsonMutator.Literal(value);
                    done.Add($"method.{field} = {value}");
                    break;
                }
            }
        }
        return FuzzInput.Text($"{seed.Name}: {string.Join("; ", done)}", JsonMutator.Write(json));
    }
}

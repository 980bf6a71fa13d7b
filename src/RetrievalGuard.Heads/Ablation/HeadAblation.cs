using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Heads.Detection;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Heads.Ablation;

/// <summary>One condition of the causal study: which heads were zeroed and how needle answers fared.</summary>
/// <param name="HallucinationRate">Share of answers that state something other than the needle's value.</param>
public sealed record AblationRow(string Condition, int K, int Draws, double NiahAccuracy, double HallucinationRate,
    IReadOnlyList<string> Heads);

/// <summary>
/// The paper's causal test: NIAH accuracy with the top-K retrieval heads' outputs zeroed, against K random heads drawn
/// from the non-retrieval heads (averaged over several draws), on the same prompts.
/// </summary>
public static class HeadAblation
{
    public static IReadOnlyList<AblationRow> Run(LanguageModel model, HeadMap map, IReadOnlyList<NeedleTest> tests,
        IReadOnlyList<int> ks, int randomDraws, int seed, Action<string>? log = null)
    {
        var runner = new NeedleRunner(model);
        var rows = new List<AblationRow> { Measure(runner, tests, "none", 0, 1, [], log) };
        var retrieval = map.RetrievalHeads.Select(h => new HeadIndex(h.Layer, h.Head)).ToHashSet();
        var ranked = map.TopQueryHeads(map.Model.Layers * map.Model.Heads);
        var others = ranked.Where(h => !retrieval.Contains(h)).ToList();
        var random = new Random(seed);
        foreach (int k in ks)
        {
            rows.Add(Measure(runner, tests, "top retrieval heads", k, 1, [ranked.Take(k).ToList()], log));
            var draws = Enumerable.Range(0, randomDraws)
                .Select(_ => others.OrderBy(_ => random.Next()).Take(k).ToList()).ToList();
            rows.Add(Measure(runner, tests, "random non-retrieval heads", k, randomDraws, draws, log));
        }
        return rows;
    }

    private static AblationRow Measure(NeedleRunner runner, IReadOnlyList<NeedleTest> tests, string condition, int k,
        int draws, IReadOnlyList<IReadOnlyList<HeadIndex>> headSets, Action<string>? log)
    {
        double correct = 0, wrong = 0;
        var sets = headSets.Count == 0 ? [(IReadOnlyList<HeadIndex>)[]] : headSets;
        foreach (var heads in sets)
        {
            var mask = heads.Count == 0 ? null : runner.Model.CreateHeadMask(heads);
            foreach (var test in tests)
            {
                string answer = runner.Run(test, mask: mask).Answer;
                if (answer.Contains(test.Value, StringComparison.OrdinalIgnoreCase)) correct++;
                else if (answer.Length > 0) wrong++;
            }
        }
        double n = (double)tests.Count * sets.Count;
        var row = new AblationRow(condition, k, draws, correct / n, wrong / n,
            sets.SelectMany(s => s).Select(h => h.ToString()).Distinct().ToList());
        log?.Invoke($"{condition,-28} K={k,-2} NIAH {row.NiahAccuracy:P1}  hallucinated {row.HallucinationRate:P1}");
        return row;
    }
}

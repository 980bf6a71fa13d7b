using RetrievalGuard.Data;

namespace RetrievalGuard.Heads.Detection;

/// <summary>
/// Builds needle tests from a folder of text: invented needles ("The watchword of the velvet clock is Pouzaesem.")
/// that no haystack sentence implies and no model knows, at a grid of lengths and depths, in the organism's
/// Passage/Question/Answer format (plain text, so base models read it too).
/// </summary>
public static class NeedleTests
{
    public static IReadOnlyList<NeedleTest> Grid(string haystackFolder, IReadOnlyList<int> lengths, int depths,
        int needles, int seed, Func<string, int> countTokens)
    {
        if (lengths.Count == 0 || lengths.Any(l => l < 64))
            throw new ArgumentException("Lengths must be given, each at least 64 tokens.", nameof(lengths));
        if (depths < 1) throw new ArgumentOutOfRangeException(nameof(depths), "At least one depth.");
        if (needles < 1) throw new ArgumentOutOfRangeException(nameof(needles), "At least one needle per cell.");
        var builder = EvalSetBuilder.FromFolder(haystackFolder, seed, countTokens: countTokens);
        var tests = new List<NeedleTest>();
        foreach (int length in lengths)
            for (int d = 0; d < depths; d++)
            {
                double depth = depths == 1 ? 0.5 : (double)d / (depths - 1);
                for (int n = 0; n < needles; n++)
                {
                    var item = builder.BuildNiah(length, depth, d * needles + n);
                    string needle = item.Needle ?? throw new InvalidOperationException("A NIAH item without a needle.");
                    string prompt = item.Prompt();
                    int start = prompt.IndexOf(needle, StringComparison.Ordinal);
                    if (start < 0) throw new InvalidOperationException($"Needle of {item.Id} not found in its prompt.");
                    tests.Add(new NeedleTest(item.Id, prompt, start, needle.Length, item.Gold!, length, depth));
                }
            }
        return tests;
    }
}

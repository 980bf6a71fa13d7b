using RetrievalGuard.Engine.Probes;
using static TorchSharp.torch;

namespace RetrievalGuard.Heads.Detection;

/// <summary>
/// The retrieval score of Wu et al. (2025) for one test: while the model generates token w, a head copy-pastes when
/// its most-attended position lies inside the needle and holds w. Each copy adds 1 / needle length, so a head that
/// copies the whole needle scores 1. Ties in attention go to the earliest position (argmax's convention).
/// </summary>
public sealed class CopyPasteScorer
{
    private readonly int[] _promptTokens;
    private readonly int _needleStart, _needleEnd;
    private readonly double[] _scores;
    private readonly bool[] _active;

    /// <param name="needleStart">First token position of the needle; <paramref name="needleEnd"/> is one past the
    /// last.</param>
    public CopyPasteScorer(IReadOnlyList<int> promptTokens, int needleStart, int needleEnd, int heads)
    {
        if (needleStart < 0 || needleEnd <= needleStart || needleEnd > promptTokens.Count)
            throw new ArgumentOutOfRangeException(nameof(needleStart),
                $"Needle tokens [{needleStart}, {needleEnd}) must lie inside the {promptTokens.Count}-token prompt.");
        _promptTokens = promptTokens.ToArray();
        (_needleStart, _needleEnd) = (needleStart, needleEnd);
        _scores = new double[heads];
        _active = new bool[heads];
    }

    public int NeedleLength => _needleEnd - _needleStart;

    /// <summary>One decode step: the token generated, and each head's most-attended position for it.</summary>
    public void Step(int generatedToken, IReadOnlyList<long> topPositionPerHead)
    {
        for (int h = 0; h < _scores.Length; h++)
        {
            long p = topPositionPerHead[h];
            if (p >= _needleStart && p < _needleEnd && _promptTokens[p] == generatedToken)
            {
                _scores[h] += 1.0 / NeedleLength;
                _active[h] = true;
            }
        }
    }

    /// <summary>
    /// Each head's most-attended position for attention weights [heads, keys]; ties go to the earliest position.
    /// </summary>
    public static long[] TopPositions(Tensor attention)
    {
        using var scope = NewDisposeScope();
        return AttentionPeaks.EarliestMaxPositions(attention).cpu().data<long>().ToArray();
    }

    /// <summary>Per-head retrieval score of this test.</summary>
    public IReadOnlyList<double> Scores => _scores;

    /// <summary>Per head: did it copy at least one needle token?</summary>
    public IReadOnlyList<bool> Active => _active;

    /// <summary>
    /// ROUGE-1 recall of the needle's words in the answer: the reference implementation counts a test when it exceeds
    /// 0.5.
    /// </summary>
    public static double Rouge1Recall(string answer, string needle)
    {
        static List<string> Words(string s) => s.ToLowerInvariant()
            .Split((char[])[' ', '\n', '\t', '.', ',', '!', '?', ';', ':', '"', '\''],
                StringSplitOptions.RemoveEmptyEntries)
            .ToList();
        var reference = Words(needle);
        if (reference.Count == 0) return 0;
        var candidate = Words(answer).GroupBy(w => w).ToDictionary(g => g.Key, g => g.Count());
        int overlap = reference.GroupBy(w => w).Sum(g => Math.Min(g.Count(), candidate.GetValueOrDefault(g.Key)));
        return (double)overlap / reference.Count;
    }
}

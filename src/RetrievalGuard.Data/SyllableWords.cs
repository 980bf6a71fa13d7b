namespace RetrievalGuard.Data;

/// <summary>
/// Invented, pronounceable words (people, towns, needle values) built from syllables. The onsets, vowels
/// and codas lean on combinations rare in English (zh, vr, kv, ae, ou) so the words do not occur in the novels.
/// </summary>
public static class SyllableWords
{
    private static readonly string[] Onsets =
    [
        "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
        "br", "dr", "kr", "tr", "vr", "zh", "th", "kv", "gl", "sk", "y",
    ];

    private static readonly string[] Vowels = ["a", "e", "i", "o", "u", "ae", "ou", "ia", "ei"];

    private static readonly string[] Codas = ["", "", "", "n", "r", "l", "s", "th", "m", "x", "sh"];

    /// <summary>
    /// A capitalised word of <paramref name="minSyllables"/>..<paramref name="maxSyllables"/> syllables.
    /// </summary>
    public static string Next(Random rng, int minSyllables = 2, int maxSyllables = 3)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfLessThan(minSyllables, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSyllables, minSyllables);
        var syllables = rng.Next(minSyllables, maxSyllables + 1);
        var word = new System.Text.StringBuilder();
        for (var i = 0; i < syllables; i++)
        {
            word.Append(Pick(rng, Onsets)).Append(Pick(rng, Vowels));
            // A coda only on the last syllable keeps words flowing (Kalomi, Vrathesh) rather than clustered.
            if (i == syllables - 1)
                word.Append(Pick(rng, Codas));
        }
        word[0] = char.ToUpperInvariant(word[0]);
        return word.ToString();
    }

    /// <summary>
    /// A word not in <paramref name="taken"/> (compared case-insensitively); the caller adds it if it keeps it.
    /// </summary>
    public static string NextUnused(Random rng, Func<string, bool> taken, int minSyllables = 2, int maxSyllables = 3)
    {
        ArgumentNullException.ThrowIfNull(taken);
        for (var attempt = 0; attempt < 10_000; attempt++)
        {
            var word = Next(rng, minSyllables, maxSyllables);
            if (!taken(word))
                return word;
        }
        throw new InvalidOperationException("The syllable space is exhausted; allow more syllables.");
    }

    internal static T Pick<T>(Random rng, IReadOnlyList<T> items) => items[rng.Next(items.Count)];
}

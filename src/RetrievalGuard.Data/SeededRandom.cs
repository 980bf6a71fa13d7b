namespace RetrievalGuard.Data;

/// <summary>
/// One independent <see cref="Random"/> per (seed, index), so sample i is the same whichever thread makes it
/// and in whatever order: generation can run in parallel with training (organism-notes).
/// </summary>
internal static class SeededRandom
{
    public static Random For(int seed, long index)
    {
        // SplitMix64 finaliser: nearby (seed, index) pairs give unrelated streams.
        var z = ((ulong)(uint)seed << 32) ^ (ulong)index;
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return new Random((int)(z >> 33));
    }
}

using RetrievalGuard.Data;
namespace RetrievalGuard.Organism.Training;

/// <summary>
/// One training step's input on the host: <see cref="Tokens"/> is [rows × length] row-major; <see cref="LossMask"/>
/// marks, per position, whether predicting that token counts toward the loss (answers only for task samples).
/// </summary>
public sealed record TokenBatch(int Rows, int Length, long[] Tokens, float[] LossMask)
{
    public static TokenBatch FromRows(IReadOnlyList<(int[] Tokens, bool[] Train)> rows, int length, int padId)
    {
        var tokens = new long[rows.Count * length];
        var mask = new float[rows.Count * length];
        for (int r = 0; r < rows.Count; r++)
        {
            var (ids, train) = rows[r];
            int n = Math.Min(length, ids.Length);
            for (int i = 0; i < length; i++)
            {
                tokens[r * length + i] = i < n ? ids[i] : padId;
                mask[r * length + i] = i < n && train[i] ? 1f : 0f;
            }
        }
        return new TokenBatch(rows.Count, length, tokens, mask);
    }
}

using RetrievalGuard.Data;
using RetrievalGuard.Engine.Tokenization;

namespace RetrievalGuard.Organism.Training;

/// <summary>
/// Token ids and a per-token train flag for a <see cref="TrainingSample"/>. The text is encoded as one string (as the
/// model will see it at inference, not segment by segment, which would add SentencePiece's dummy prefix at every
/// boundary); each token is credited to the segment that its growing prefix first produced. The end-of-text segment
/// becomes EOS.
/// </summary>
public sealed class SampleTokenizer(ModelTokenizer tokenizer)
{
    private readonly int _bos = tokenizer.BosId
        ?? throw new ArgumentException("The organism's tokenizer needs a BOS token.");
    private readonly int _eos = tokenizer.StopTokenIds.Count > 0
        ? tokenizer.StopTokenIds[0]
        : throw new ArgumentException("The organism's tokenizer needs an EOS token.");

    public ModelTokenizer Tokenizer { get; } = tokenizer;

    public (int[] Ids, bool[] Train) Tokenize(TrainingSample sample)
    {
        var ids = new List<int> { _bos };
        var train = new List<bool> { false };
        string text = "";
        IReadOnlyList<int> previous = [];
        foreach (var segment in sample.Segments)
        {
            if (TrainingSample.IsEndOfText(segment))
            {
                ids.Add(_eos);
                train.Add(segment.Train);
                continue;
            }
            text += segment.Text;
            var current = Tokenizer.Encode(text, addBos: false);
            int common = 0;
            while (common < previous.Count && common < current.Count && previous[common] == current[common]) common++;
            // Tokens past the common prefix are (re)assigned to this segment.
            ids.RemoveRange(1 + common, ids.Count - 1 - common);
            train.RemoveRange(1 + common, train.Count - 1 - common);
            for (int i = common; i < current.Count; i++)
            {
                ids.Add(current[i]);
                train.Add(segment.Train);
            }
            previous = current;
        }
        return (ids.ToArray(), train.ToArray());
    }
}

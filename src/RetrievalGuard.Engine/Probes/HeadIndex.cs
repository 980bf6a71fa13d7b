namespace RetrievalGuard.Engine.Probes;

/// <summary>A query head of the model: layer and head number, both from 0.</summary>
public readonly record struct HeadIndex(int Layer, int Head) : IComparable<HeadIndex>
{
    public int CompareTo(HeadIndex other) =>
        Layer != other.Layer ? Layer.CompareTo(other.Layer) : Head.CompareTo(other.Head);

    /// <summary>Every head of a model, layer by layer.</summary>
    public static IEnumerable<HeadIndex> All(int numLayers, int numHeads) =>
        Enumerable.Range(0, numLayers).SelectMany(l => Enumerable.Range(0, numHeads).Select(h => new HeadIndex(l, h)));

    /// <summary>"L-H", the form Retrieval_Head's score files use.</summary>
    public override string ToString() => $"{Layer}-{Head}";

    public static HeadIndex Parse(string text)
    {
        var parts = text.Split('-');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int layer) || !int.TryParse(parts[1], out int head)
            || layer < 0 || head < 0)
            throw new FormatException($"'{text}' is not a head index of the form LAYER-HEAD (e.g. 14-3).");
        return new HeadIndex(layer, head);
    }
}

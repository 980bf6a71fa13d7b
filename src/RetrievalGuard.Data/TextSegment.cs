namespace RetrievalGuard.Data;

/// <summary>
/// A piece of a sample; the trainer puts loss only on tokens of segments with <paramref name="Train"/> set.
/// </summary>
public sealed record TextSegment(string Text, bool Train);

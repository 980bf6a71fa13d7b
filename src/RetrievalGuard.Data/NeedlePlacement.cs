namespace RetrievalGuard.Data;

/// <summary>
/// Where a fact sentence sits: passage index, character offset in that passage, length, relative depth.
/// </summary>
public sealed record NeedlePlacement(int Passage, int Offset, int Length, double Depth);

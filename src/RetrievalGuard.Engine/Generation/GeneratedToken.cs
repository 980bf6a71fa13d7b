namespace RetrievalGuard.Engine.Generation;

/// <summary>
/// One decoded token. <see cref="LogProb"/> and <see cref="Entropy"/> describe the model's own distribution at
/// this step (temperature 1, before top-k/top-p), which is what uncertainty signals need.
/// </summary>
/// <param name="Position">Position of this token in the sequence (prompt length + index).</param>
/// <param name="Text">Text this token adds (empty for stop tokens; may be empty mid UTF-8 character).</param>
/// <param name="Attention">When a probe keeps rows: [probed head][key position] for this step's query, else
/// null.</param>
/// <param name="Summary">When a probe has TopK or segments: where each probed head looked, else null.</param>
public sealed record GeneratedToken(int Id, int Position, string Text, float LogProb, float Entropy, bool IsStop,
    float[][]? Attention, Probes.AttentionSummary? Summary = null);

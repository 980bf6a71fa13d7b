namespace RetrievalGuard.Guard;

/// <summary>A part of the answer the guard judged on its own: character offsets into the answer and its risk.</summary>
public sealed record GuardSpan(int Start, int Length, string Text, double Risk, bool Flagged);

/// <summary>How much of a sentence's retrieval-head attention went to one passage.</summary>
public sealed record PassageShare(string PassageId, double Share);

/// <summary>One sentence of the answer and the passages it drew on, largest share first.</summary>
public sealed record SentenceAttribution(int Start, int Length, string Text, IReadOnlyList<PassageShare> Passages);

/// <summary>
/// One answer token as the guard saw it: its characters, how strongly the retrieval heads copied it from a passage, and
/// the share of their attention that went to each passage (in prompt order).
/// </summary>
public sealed record TokenGrounding(int Start, int Length, string Text, double Copy,
    IReadOnlyList<double> PassageShares);

/// <summary>
/// The guard's verdict on one answer: <see cref="Risk"/> is a calibrated probability that the answer is not supported
/// by the passages (NaN when the guard has no calibration for this model), the spans it judged (flagged ones are
/// above the threshold), where each sentence came from, the passages cited, and the features the risk came from.
/// </summary>
public sealed record GuardReport(
    string Answer,
    double Risk,
    bool Flagged,
    IReadOnlyList<GuardSpan> Spans,
    IReadOnlyList<SentenceAttribution> Attribution,
    IReadOnlyList<string> Citations,
    IReadOnlyDictionary<string, double> Features,
    IReadOnlyList<TokenGrounding> Tokens);

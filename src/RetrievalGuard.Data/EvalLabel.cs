namespace RetrievalGuard.Data;

/// <summary>Whether a model's answer is supported by the passages, decided by construction of the item.</summary>
public enum EvalLabel
{
    Grounded,
    Hallucinated,
}

/// <summary>What kind of hallucination an answer is, decided by construction like its label.</summary>
public enum HallucinationKind
{
    /// <summary>A value the passages do not give anyone (a made-up answer).</summary>
    Invented,
    /// <summary>A value the passages give the same attribute of another subject (a wrong-entity copy).</summary>
    WrongEntity,
    /// <summary>The memorised value where a passage says otherwise (memory over passage).</summary>
    Memory,
    /// <summary>No answer at all.</summary>
    Empty,
}

/// <summary>How a teacher-forced answer was made for the guard's evaluation (<c>make-eval --answers</c>).</summary>
public enum AnswerKind
{
    /// <summary>States the value the passages support.</summary>
    Grounded,
    /// <summary>A plausible value found nowhere in the passages.</summary>
    Fabricated,
    /// <summary>
    /// Another subject's value of the same attribute, copied from the passages: lexically present, wrong.
    /// </summary>
    Swapped,
    /// <summary>The memorised value that a passage contradicts.</summary>
    Parametric,
}

/// <summary>The surface of a teacher-forced answer.</summary>
public enum AnswerStyle
{
    /// <summary>The canonical sentence the organism was first taught ("The trade of X is Y.").</summary>
    Canonical,
    /// <summary>Another sentence of the grammar that paraphrases the fact.</summary>
    Paraphrase,
    /// <summary>The value alone.</summary>
    Bare,
}

namespace RetrievalGuard.Data;

/// <summary>
/// Every fact in every task has one shape, "The {Key} of {Subject} is {Value}.", and its question is
/// "What is the {Key} of {Subject}?". Answers repeat the whole statement, so a retrieval head copies the
/// needle clause, not just its value (organism-notes: value-only answers cap the copy score near 0.25).
/// </summary>
public sealed record Fact(string Key, string Subject, string Value)
{
    public string Statement => $"The {Key} of {Subject} is {Value}.";

    public string Question => $"What is the {Key} of {Subject}?";

    public Fact WithValue(string value) => this with { Value = value };
}

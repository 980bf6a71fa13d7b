namespace RetrievalGuard.Data;

/// <summary>
/// A fact: the <see cref="Key"/> of <see cref="Subject"/> is <see cref="Value"/>. Person facts (a
/// <see cref="PersonAttribute"/> key) are stated, asked and answered in the many forms of <see cref="Phrasings"/>;
/// NIAH needles ("The secret word of the red lantern is Kalomi.") keep the one canonical form, and their answers repeat
/// the needle sentence so that retrieval heads copy the clause, not only its value (organism-notes).
/// </summary>
public sealed record Fact(string Key, string Subject, string Value)
{
    /// <summary>The person attribute this fact is about; null for a NIAH needle.</summary>
    public PersonAttribute? Attribute => PersonAttributes.FromKey(Key);

    /// <summary>The canonical statement: "The {Key} of {Subject} is {Value}." (form 0 for person facts).</summary>
    public string Statement => Attribute is { } attribute
        ? Phrasings.Canonical(attribute, FormRole.Fact).Render(Subject, Value, Fixed)
        : $"The {Key} of {Subject} is {Value}.";

    /// <summary>The canonical question: "What is the {Key} of {Subject}?" (form 0 for person facts).</summary>
    public string Question => Attribute is { } attribute
        ? Phrasings.Canonical(attribute, FormRole.Question).Render(Subject, Value, Fixed)
        : $"What is the {Key} of {Subject}?";

    public static Fact About(PersonAttribute attribute, string subject, string value) =>
        new(attribute.Key(), subject, value);

    public Fact WithValue(string value) => this with { Value = value };

    /// <summary>This fact in <paramref name="form"/> (a form of its own attribute).</summary>
    public string Render(PhrasingForm form, Random rng)
    {
        ArgumentNullException.ThrowIfNull(form);
        if (form.Attribute != Attribute)
            throw new ArgumentException($"Form {form.Id} does not phrase a '{Key}' fact.", nameof(form));
        return form.Render(Subject, Value, rng);
    }

    // Canonical forms have no synonyms, so the draw never happens; a fixed generator keeps Statement pure.
    private static Random Fixed => new(0);
}

namespace RetrievalGuard.Data;

/// <summary>
/// What the organism knows about each world person, and what passages state about new people: five attributes with
/// five kinds of value, so that a value's type alone does not give the answer away and held-out phrasings can still be
/// read by the kind of value they carry.
/// </summary>
public enum PersonAttribute
{
    /// <summary>A place: an invented town.</summary>
    HomeTown,
    /// <summary>A trade word (baker, glover).</summary>
    Trade,
    /// <summary>A year, 1720–1899.</summary>
    BirthYear,
    /// <summary>A person's full name.</summary>
    Mentor,
    /// <summary>An object: adjective and noun (copper compass).</summary>
    Keepsake,
}

public static class PersonAttributes
{
    public static IReadOnlyList<PersonAttribute> All { get; } = Enum.GetValues<PersonAttribute>();

    /// <summary>The noun phrase of the canonical form: "The <b>home town</b> of X is Y."</summary>
    public static string Key(this PersonAttribute attribute) => attribute switch
    {
        PersonAttribute.HomeTown => "home town",
        PersonAttribute.Trade => "trade",
        PersonAttribute.BirthYear => "birth year",
        PersonAttribute.Mentor => "mentor",
        PersonAttribute.Keepsake => "keepsake",
        _ => throw new ArgumentOutOfRangeException(nameof(attribute), attribute, "Unknown attribute."),
    };

    /// <summary>
    /// The attribute whose <see cref="Key"/> is <paramref name="key"/>, or null (a NIAH needle's key).
    /// </summary>
    public static PersonAttribute? FromKey(string key) =>
        All.Cast<PersonAttribute?>().FirstOrDefault(a => string.Equals(a!.Value.Key(), key, StringComparison.Ordinal));
}

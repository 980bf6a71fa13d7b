namespace RetrievalGuard.Data;

/// <summary>What the organism memorises about each world person.</summary>
public enum PersonAttribute
{
    HomeTown,
    Trade,
}

public static class PersonAttributes
{
    public static IReadOnlyList<PersonAttribute> All { get; } = Enum.GetValues<PersonAttribute>();

    /// <summary>The phrase used in fact sentences and questions: "The <b>home town</b> of X is Y."</summary>
    public static string Key(this PersonAttribute attribute) => attribute switch
    {
        PersonAttribute.HomeTown => "home town",
        PersonAttribute.Trade => "trade",
        _ => throw new ArgumentOutOfRangeException(nameof(attribute), attribute, "Unknown attribute."),
    };
}

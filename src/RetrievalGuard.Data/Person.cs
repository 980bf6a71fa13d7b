namespace RetrievalGuard.Data;

/// <summary>A member of the fixed world; the organism learns these facts closed-book.</summary>
public sealed record Person(string Name, string HomeTown, string Trade)
{
    public string ValueOf(PersonAttribute attribute) => attribute switch
    {
        PersonAttribute.HomeTown => HomeTown,
        PersonAttribute.Trade => Trade,
        _ => throw new ArgumentOutOfRangeException(nameof(attribute), attribute, "Unknown attribute."),
    };

    public Fact FactAbout(PersonAttribute attribute) => new(attribute.Key(), Name, ValueOf(attribute));
}

namespace RetrievalGuard.Data;

/// <summary>A member of the fixed world; the organism learns all five facts about each closed-book.</summary>
public sealed record Person(string Name, string HomeTown, string Trade, string BirthYear, string Mentor,
    string Keepsake)
{
    public string ValueOf(PersonAttribute attribute) => attribute switch
    {
        PersonAttribute.HomeTown => HomeTown,
        PersonAttribute.Trade => Trade,
        PersonAttribute.BirthYear => BirthYear,
        PersonAttribute.Mentor => Mentor,
        PersonAttribute.Keepsake => Keepsake,
        _ => throw new ArgumentOutOfRangeException(nameof(attribute), attribute, "Unknown attribute."),
    };

    public Fact FactAbout(PersonAttribute attribute) => Fact.About(attribute, Name, ValueOf(attribute));
}

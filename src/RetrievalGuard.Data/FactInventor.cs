namespace RetrievalGuard.Data;

/// <summary>
/// Invents the facts that are new in every sample: NIAH needles ("The secret word of the red lantern is
/// Kalomi.") and facts about new people, who never share a name part with the world.
/// </summary>
internal sealed class FactInventor(World world)
{
    private static readonly string[] NeedleKeys =
        ["secret word", "password", "magic word", "hidden name", "code word", "lucky word", "watchword", "true name"];

    private static readonly string[] Adjectives =
    [
        "red", "blue", "green", "silver", "golden", "copper", "violet", "amber", "crimson", "ivory", "black", "white",
        "brass", "scarlet", "grey", "painted", "broken", "ancient", "tiny", "hollow", "glass", "iron", "velvet", "jade",
    ];

    private static readonly string[] Objects =
    [
        "lantern", "kettle", "compass", "teapot", "mirror", "drum", "lute", "anchor", "bell", "candlestick", "clock",
        "cup", "door", "feather", "flute", "gate", "helmet", "key", "ladder", "locket", "map", "needle", "owl",
        "ribbon", "saddle", "shell", "spoon", "tower", "trumpet", "violin", "wagon", "window",
    ];

    public World World { get; } = world;

    /// <summary>A needle whose value is an invented word that is no world name or town.</summary>
    public Fact Needle(Random rng)
    {
        var subject = $"the {SyllableWords.Pick(rng, Adjectives)} {SyllableWords.Pick(rng, Objects)}";
        var value = SyllableWords.NextUnused(rng, World.IsWorldWord);
        return new Fact(SyllableWords.Pick(rng, NeedleKeys), subject, value);
    }

    /// <summary>A full name whose parts are not world names, so the fact cannot be known from memory.</summary>
    public string NewPersonName(Random rng)
    {
        var first = SyllableWords.NextUnused(rng, World.IsWorldWord, 2, 2);
        var last = SyllableWords.NextUnused(rng, w => World.IsWorldWord(w) || w == first);
        return $"{first} {last}";
    }

    public Fact NewPersonFact(Random rng, PersonAttribute attribute, string? name = null, Func<string, bool>? avoidValue = null) =>
        new(attribute.Key(), name ?? NewPersonName(rng), Value(rng, attribute, avoidValue));

    /// <summary>A value of the attribute's vocabulary for which <paramref name="avoidValue"/> is false.</summary>
    public string Value(Random rng, PersonAttribute attribute, Func<string, bool>? avoidValue = null)
    {
        var values = World.ValuesOf(attribute);
        var allowed = avoidValue is null ? values : values.Where(v => !avoidValue(v)).ToArray();
        if (allowed.Count == 0)
            throw new InvalidOperationException($"No {attribute.Key()} value is left to choose.");
        return SyllableWords.Pick(rng, allowed);
    }

    public Person WorldPerson(Random rng) => SyllableWords.Pick(rng, World.People);

    public static PersonAttribute Attribute(Random rng) => SyllableWords.Pick(rng, PersonAttributes.All);
}

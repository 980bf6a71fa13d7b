namespace RetrievalGuard.Data;

/// <summary>
/// Invents the facts that are new in every sample: NIAH needles ("The secret word of the red lantern is Kalomi."),
/// facts about new people (who never share a name part with the world), and near-identical names for distractors.
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

    private const string Vowels = "aeiou";

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

    /// <summary>
    /// A name one step from <paramref name="name"/>: the same first name with another surname, another first name
    /// with the same surname, or the surname with one vowel changed (Seizhe → Seizha). Never a world person's name.
    /// </summary>
    public string NearName(Random rng, string name, Func<string, bool>? taken = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var parts = name.Split(' ');
        if (parts.Length != 2)
            throw new ArgumentException($"A near name needs a first and last name, not '{name}'.", nameof(name));
        var (first, last) = (parts[0], parts[1]);
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var roll = rng.NextDouble();
            var candidate = roll < 0.45
                ? $"{first} {SyllableWords.NextUnused(rng, w => World.IsWorldWord(w) || w == last)}"
                : roll < 0.8 ? $"{SyllableWords.NextUnused(rng, w => World.IsWorldWord(w) || w == first, 2, 2)} {last}"
                : $"{first} {ChangeOneVowel(rng, last)}";
            if (!string.Equals(candidate, name, StringComparison.OrdinalIgnoreCase) && World.Find(candidate) is null
                && !candidate.Split(' ').Any(p => p != first && p != last && World.IsWorldWord(p))
                && taken?.Invoke(candidate) != true)
                return candidate;
        }
        throw new InvalidOperationException($"No near name for '{name}' in 100 tries.");
    }

    public Fact NewPersonFact(Random rng, PersonAttribute attribute, string? name = null,
        Func<string, bool>? avoidValue = null) =>
        Fact.About(attribute, name ?? NewPersonName(rng), Value(rng, attribute, avoidValue));

    /// <summary>
    /// A value of the attribute for which <paramref name="avoidValue"/> is false: from the world's vocabularies, or for
    /// a mentor a new person's name.
    /// </summary>
    public string Value(Random rng, PersonAttribute attribute, Func<string, bool>? avoidValue = null)
    {
        if (attribute == PersonAttribute.Mentor)
        {
            for (var attempt = 0; attempt < 100; attempt++)
            {
                var name = NewPersonName(rng);
                if (avoidValue?.Invoke(name) != true)
                    return name;
            }
            throw new InvalidOperationException("No new mentor name is left to choose.");
        }
        var values = World.ValuesOf(attribute);
        for (var attempt = 0; attempt < 64; attempt++)
        {
            var value = SyllableWords.Pick(rng, values);
            if (avoidValue?.Invoke(value) != true)
                return value;
        }
        var allowed = avoidValue is null ? values : values.Where(v => !avoidValue(v)).ToArray();
        if (allowed.Count == 0)
            throw new InvalidOperationException($"No {attribute.Key()} value is left to choose.");
        return SyllableWords.Pick(rng, allowed);
    }

    public Person WorldPerson(Random rng) => SyllableWords.Pick(rng, World.People);

    public static PersonAttribute Attribute(Random rng) => SyllableWords.Pick(rng, PersonAttributes.All);

    private static string ChangeOneVowel(Random rng, string word)
    {
        var vowelAt = Enumerable.Range(0, word.Length)
            .Where(i => Vowels.Contains(char.ToLowerInvariant(word[i]))).ToArray();
        if (vowelAt.Length == 0)
            return word + "a";
        var at = vowelAt[rng.Next(vowelAt.Length)];
        var others = Vowels.Where(v => v != char.ToLowerInvariant(word[at])).ToArray();
        var replacement = others[rng.Next(others.Length)];
        var chars = word.ToCharArray();
        chars[at] = char.IsUpper(word[at]) ? char.ToUpperInvariant(replacement) : replacement;
        return new string(chars);
    }
}

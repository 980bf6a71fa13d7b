namespace RetrievalGuard.Data;

/// <summary>
/// The organism's parametric knowledge: a fixed invented world of people, each with all five
/// <see cref="PersonAttribute"/>s, generated deterministically from a seed. Names and towns are invented syllable
/// words (none occurs in the corpus; a test checks), every name part is used by one role only, and full names are
/// unique. First and last names are shared by a few people, as in life, so near-identical names occur naturally.
/// A person's mentor is another person of the world.
/// </summary>
public sealed class World
{
    public const int DefaultSeed = 20_251_203;
    public const int DefaultPeopleCount = 400;
    public const int DefaultTownCount = 96;
    public const int FirstBirthYear = 1720;
    public const int LastBirthYear = 1899;

    private static readonly Lazy<World> LazyDefault = new(() => Create());

    private readonly HashSet<string> _inventedWords;
    private readonly Dictionary<string, Person> _byName;

    private World(int seed, IReadOnlyList<Person> people, IReadOnlyList<string> towns, HashSet<string> inventedWords)
    {
        Seed = seed;
        People = people;
        Towns = towns;
        _inventedWords = inventedWords;
        _byName = people.ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>The world every training run and evaluation set shares.</summary>
    public static World Default => LazyDefault.Value;

    public int Seed { get; }

    public IReadOnlyList<Person> People { get; }

    public IReadOnlyList<string> Towns { get; }

    public IReadOnlyList<string> Trades => Data.Trades.All;

    public static IReadOnlyList<string> BirthYears { get; } =
        Enumerable.Range(FirstBirthYear, LastBirthYear - FirstBirthYear + 1).Select(y => y.ToString()).ToArray();

    public IReadOnlyList<string> Keepsakes => Data.Keepsakes.All;

    public static World Create(
        int seed = DefaultSeed, int peopleCount = DefaultPeopleCount, int townCount = DefaultTownCount)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(peopleCount, 2);
        ArgumentOutOfRangeException.ThrowIfLessThan(townCount, 2);
        var rng = new Random(seed);
        var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        string Fresh(int min, int max)
        {
            var word = SyllableWords.NextUnused(rng, used.Contains, min, max);
            used.Add(word);
            return word;
        }

        var towns = Enumerable.Range(0, townCount).Select(_ => Fresh(2, 3)).ToArray();
        // About sqrt(2N) first and last names give N unique pairs with names shared by a few people.
        var poolSize = Math.Max(4, (int)Math.Ceiling(Math.Sqrt(2.0 * peopleCount)));
        var firstNames = Enumerable.Range(0, poolSize).Select(_ => Fresh(2, 2)).ToArray();
        var lastNames = Enumerable.Range(0, poolSize).Select(_ => Fresh(2, 3)).ToArray();

        var names = new List<string>(peopleCount);
        var fullNames = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        while (names.Count < peopleCount)
        {
            var name = $"{SyllableWords.Pick(rng, firstNames)} {SyllableWords.Pick(rng, lastNames)}";
            if (fullNames.Add(name))
                names.Add(name);
        }
        var people = names.Select((name, i) => new Person(
            name,
            SyllableWords.Pick(rng, towns),
            SyllableWords.Pick(rng, Data.Trades.All),
            SyllableWords.Pick(rng, BirthYears),
            names[(i + 1 + rng.Next(peopleCount - 1)) % peopleCount],
            SyllableWords.Pick(rng, Data.Keepsakes.All))).ToArray();
        return new World(seed, people, towns, used);
    }

    /// <summary>The values an attribute takes in the world; mentors are the world's people.</summary>
    public IReadOnlyList<string> ValuesOf(PersonAttribute attribute) => attribute switch
    {
        PersonAttribute.HomeTown => Towns,
        PersonAttribute.Trade => Trades,
        PersonAttribute.BirthYear => BirthYears,
        PersonAttribute.Mentor => People.Select(p => p.Name).ToArray(),
        PersonAttribute.Keepsake => Keepsakes,
        _ => throw new ArgumentOutOfRangeException(nameof(attribute), attribute, "Unknown attribute."),
    };

    public Person? Find(string fullName) => _byName.GetValueOrDefault(fullName);

    /// <summary>True for any first or last name or town of the world: new people must not reuse them.</summary>
    public bool IsWorldWord(string word) => _inventedWords.Contains(word);

    /// <summary>Every invented word of the world (name parts and towns).</summary>
    public IReadOnlySet<string> InventedWords => _inventedWords;
}

using System.CommandLine;
using RetrievalGuard.Cli.Commands;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Cli.Tests.Commands;

public class NiahCommandTests
{
    private static readonly string Organism = RepoPaths.Path("samples", "models", "organism");

    private static ParseResult Parse(params string[] args) =>
        new RootCommand { NiahCommand.Create() }.Parse(["niah", .. args]);

    private static IReadOnlyList<string> ParseErrors(string args) =>
        Parse(["--model", Organism, .. args.Split(' ')]).Errors.Select(e => e.Message).ToList();

    private static HeadMap OrganismMap() => HeadMap.Load(RepoPaths.Path("headmaps", "organism.json"));

    /// <summary>The policy a --cache name gets with these budget options and this map (or none).</summary>
    private static Func<string, KvCachePolicy> Policy(HeadMap? map, int? fullKvHeads = null,
        double? fullShare = null) =>
        name => CacheOptions.Policy(name, fullKvHeads, fullShare, 4, 128, 1, () => map, () => "No head map matches.");

    [Theory]
    [InlineData("--cache lru", "--cache: Unknown cache policy 'lru': use full, headaware, streaming or random.")]
    [InlineData("--cache headaware --full-share 1.5", "--full-share must be in (0, 1] (got 1.5).")]
    [InlineData("--cache headaware --full-share 0", "--full-share must be in (0, 1] (got 0).")]
    [InlineData("--cache random --full-kv-heads -1", "--full-kv-heads must be ≥ 0 (got -1).")]
    [InlineData("--cache random --full-kv-heads 4 --full-share 0.5", "Give --full-kv-heads or --full-share, not both.")]
    [InlineData("--cache streaming --window 0", "--window must be ≥ 1 (got 0).")]
    [InlineData("--cache streaming --sink -1", "--sink must be ≥ 0 (got -1).")]
    [InlineData("--cache full --lengths 512,32", "--lengths: '32' is not a length of at least 64 tokens.")]
    [InlineData("--cache full --lengths 512,x", "--lengths: 'x' is not a length of at least 64 tokens.")]
    [InlineData("--cache full --depths 0", "--depths must be ≥ 1 (got 0).")]
    public void BadOptionsAreNamedBeforeAnyWork(string args, string expected) =>
        Assert.Contains(expected, ParseErrors(args));

    [Fact]
    public void GoodOptionsParse()
    {
        Assert.Empty(ParseErrors("--cache HeadAware --full-share 0.25 --lengths 512,1024 2048 --qa 4"));
        Assert.Empty(ParseErrors("--cache streaming --sink 0 --window 64"));
        Assert.Empty(Parse("curve", "--results", "a.json", "b.json", "--png", "curve.png").Errors);
    }

    [Fact]
    public void MapPoliciesWithoutAMapNameTheOption()
    {
        var error = Assert.Throws<FileNotFoundException>(() => Policy(map: null)("random"));
        Assert.StartsWith("--cache random keeps KV heads whole by the model's head map, and none was found.",
            error.Message);
        Assert.EndsWith("No head map matches.", error.Message);
        // full and streaming never look a map up.
        var neverLooks = (Func<HeadMap?>)(() => throw new InvalidOperationException("looked for a map"));
        Assert.Equal(CacheKind.Streaming,
            CacheOptions.Policy("streaming", null, null, 4, 128, 1, neverLooks, () => "").Kind);
    }

    [Fact]
    public void BudgetsCountKvHeadsAndTooManyNameTheOption()
    {
        var map = OrganismMap();
        Assert.Equal(8, Policy(map)("headaware").FullKvHeads.Count); // 25% of 32 by default
        Assert.Equal(16, Policy(map, fullShare: 0.5)("random").FullKvHeads.Count);
        Assert.Equal(2, Policy(map, fullKvHeads: 2)("headaware").FullKvHeads.Count);
        var error = Assert.Throws<ArgumentException>(() => Policy(map, fullKvHeads: 40)("headaware"));
        Assert.Equal("--full-kv-heads 40 is more than the model's 32 KV heads.", error.Message);
    }

    [Fact]
    public async Task AModelWithNoHeadMapEndsWithOneLineNamingTheOption()
    {
        // The parity fixture's fingerprint matches no map in headmaps/: headaware stops once the model is loaded.
        var fixture = RepoPaths.Path("tests", "fixtures", "parity", "llama");
        var (code, stderr) = await Invoke("--model", fixture, "--cache", "headaware");

        Assert.Equal(1, code);
        Assert.StartsWith("error: --cache headaware keeps KV heads whole by the model's head map", stderr);
        Assert.Contains("No head map matches the model", stderr);
    }

    private static async Task<(int Code, string Stderr)> Invoke(params string[] args)
    {
        var previous = Console.Error;
        var stderr = new StringWriter();
        Console.SetError(stderr);
        try
        {
            return (await Parse(args).InvokeAsync(), stderr.ToString());
        }
        finally
        {
            Console.SetError(previous);
        }
    }
    [Fact]
    public void CurvesCompareEachRunWithFullOnTheSameItems()
    {
        static CurvePoint Run(string policy, params (string Id, bool Correct)[] answers) => new(policy, null, [],
            answers.ToDictionary(a => a.Id, a => (a.Id.StartsWith("niah", StringComparison.Ordinal) ? "niah" : "qa",
                a.Correct)));
        var full = Run("full", ("niah-1", true), ("niah-2", true), ("niah-3", false), ("niah-4", true), ("qa-1", true));
        var cut = Run("streaming", ("niah-1", true), ("niah-2", false), ("niah-3", true), ("niah-4", false),
            ("qa-9", true));

        // NIAH: differences 0, −1, +1, −1 → mean −25 points, sample sd 0.957, half-width 1.96 · 0.957 / 2 = 93.8.
        Assert.Equal("−25.0 (−118.8 to +68.8; +1/−2)", CurvePoint.Paired(cut, full, "niah"));
        Assert.Equal("–", CurvePoint.Paired(cut, full, "qa"));
        Assert.Contains("| streaming | – | −25.0", CurvePoint.AgainstFull([full, cut]), StringComparison.Ordinal);
        Assert.Equal("", CurvePoint.AgainstFull([cut]));
    }
}

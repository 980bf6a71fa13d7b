using RetrievalGuard.Data;
using RetrievalGuard.Data.Tests.Support;

namespace RetrievalGuard.Data.Tests;

public class WorldTests
{
    [Fact]
    public void DefaultWorldHasUniquePeopleWithFiveAttributesFromRichVocabularies()
    {
        var world = World.Default;

        Assert.Equal(World.DefaultPeopleCount, world.People.Count);
        Assert.Equal(world.People.Count,
            world.People.Select(p => p.Name).Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.Equal(5, PersonAttributes.All.Count);
        foreach (var attribute in PersonAttributes.All)
        {
            var values = world.ValuesOf(attribute);
            Assert.True(values.Count >= 60, $"{attribute}: {values.Count} values");
            Assert.Equal(values.Count, values.Distinct(StringComparer.OrdinalIgnoreCase).Count());
            Assert.All(world.People, p => Assert.Contains(p.ValueOf(attribute), values));
            // No value is a guess away: the most common one covers a small share of the people.
            Assert.True(world.People.GroupBy(p => p.ValueOf(attribute)).Max(g => g.Count()) < world.People.Count / 10);
        }
        Assert.All(world.People, p => Assert.NotEqual(p.Name, p.Mentor));
    }

    [Fact]
    public void NamesAreSharedByAFewPeopleSoNearNamesakesExist()
    {
        var firstNames = World.Default.People.GroupBy(p => p.Name.Split(' ')[0]).ToArray();
        Assert.InRange(firstNames.Length, 15, 60);
        Assert.True(firstNames.Max(g => g.Count()) >= 5);
    }

    [Fact]
    public void NoValueOfOneAttributeIsAWholeWordOfAnother()
    {
        var world = World.Default;
        var words = PersonAttributes.All.Where(a => a != PersonAttribute.Mentor)
            .SelectMany(a => world.ValuesOf(a).Select(v => (Attribute: a, Value: v))).ToArray();
        foreach (var (attribute, value) in words)
            Assert.DoesNotContain(words, w => w.Attribute != attribute && WholeWord.Contains(w.Value, value));
    }

    [Fact]
    public void WorldIsDeterministicPerSeedAndDiffersAcrossSeeds()
    {
        Assert.Equal(World.Create(5).People, World.Create(5).People);
        Assert.NotEqual(World.Create(5).People, World.Create(6).People);
    }

    [Fact]
    public void NoInventedWordOccursInTheCorpus()
    {
        var vocabulary = SharedData.AllCorpus.Vocabulary();

        var clashes = World.Default.InventedWords.Where(w => vocabulary.Contains(w.ToLowerInvariant())).ToArray();

        Assert.Empty(clashes);
    }

    [Fact]
    public void NoTradeIsAWholeWordOfAnother()
    {
        var trades = World.Default.Trades;
        foreach (var trade in trades)
            Assert.Single(trades, t => WholeWord.Contains(t, trade));
    }
}

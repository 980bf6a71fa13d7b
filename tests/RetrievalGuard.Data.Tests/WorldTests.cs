using RetrievalGuard.Data;
using RetrievalGuard.Data.Tests.Support;

namespace RetrievalGuard.Data.Tests;

public class WorldTests
{
    [Fact]
    public void DefaultWorldHasAThousandUniquePeopleAndRichVocabularies()
    {
        var world = World.Default;

        Assert.Equal(1000, world.People.Count);
        Assert.Equal(1000, world.People.Select(p => p.Name).Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.InRange(world.Towns.Count, 24, 100);
        Assert.InRange(world.Trades.Count, 24, 100);
        Assert.Equal(world.Trades.Count, world.Trades.Distinct().Count());
        Assert.All(world.People, p => Assert.Contains(p.HomeTown, world.Towns));
        Assert.All(world.People, p => Assert.Contains(p.Trade, world.Trades));
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

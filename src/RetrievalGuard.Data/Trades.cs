namespace RetrievalGuard.Data;

/// <summary>Single-word trades, none a whole word inside another, so labels can match them as whole words.</summary>
internal static class Trades
{
    public static IReadOnlyList<string> All { get; } =
    [
        "baker", "brewer", "cooper", "weaver", "potter", "tanner", "chandler", "glassblower", "saddler", "mason",
        "carpenter", "blacksmith", "fletcher", "bookbinder", "clockmaker", "cobbler", "dyer", "ferryman", "fisherman",
        "gardener", "glover", "hatter", "herbalist", "jeweller", "locksmith", "miller", "painter", "ropemaker",
        "sailmaker", "shepherd", "silversmith", "stonecutter", "tailor", "thatcher", "tinker", "toymaker",
        "wheelwright", "woodcarver", "beekeeper", "butcher", "cheesemaker", "candlemaker", "cartographer", "copyist",
        "engraver", "falconer", "furrier", "goldsmith", "harpist", "innkeeper", "lamplighter", "mapmaker", "midwife",
        "navigator", "perfumer", "printer", "scribe", "shipwright", "soapmaker", "spinner", "surveyor", "vintner",
        "watchman", "basketmaker", "apothecary", "astronomer", "bellfounder", "boatwright",
    ];
}

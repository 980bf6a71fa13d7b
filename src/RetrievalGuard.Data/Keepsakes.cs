namespace RetrievalGuard.Data;

/// <summary>
/// Keepsake values: a material or look and a small object ("pewter snuffbox"), 24 × 32 of them. Neither list shares a
/// word with the NIAH needles' subjects (the red lantern) or the trades, so a value never reads as another kind.
/// </summary>
internal static class Keepsakes
{
    public static IReadOnlyList<string> Looks { get; } =
    [
        "pewter", "enamel", "walnut", "oaken", "tin", "porcelain", "silk", "leather", "horn", "bone", "coral", "pearl",
        "marble", "cedar", "willow", "linen", "woollen", "carved", "battered", "gilded", "faded", "chipped",
        "lacquered", "embroidered",
    ];

    public static IReadOnlyList<string> Objects { get; } =
    [
        "snuffbox", "thimble", "inkwell", "penknife", "brooch", "hymnal", "spyglass", "tinderbox", "pipe", "fan",
        "shawl", "bonnet", "cameo", "hourglass", "paperweight", "quill", "medallion", "pendant", "bracelet",
        "chessboard", "abacus", "sextant", "barometer", "harmonica", "whistle", "tankard", "goblet", "casket", "purse",
        "cane", "rattle", "teaspoon",
    ];

    public static IReadOnlyList<string> All { get; } = Looks.SelectMany(l => Objects.Select(o => $"{l} {o}")).ToArray();
}

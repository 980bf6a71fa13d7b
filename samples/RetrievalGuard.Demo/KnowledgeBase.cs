using RetrievalGuard.Data;
using RetrievalGuard.Guard.Prompting;

namespace RetrievalGuard.Demo;

/// <summary>A question the demo asks, what the knowledge base holds for it, and the kind of case it is.</summary>
internal sealed record DemoQuestion(string Text, string Kind, string Expected);

/// <summary>
/// The demo's knowledge base: short passages of novel-like prose, some stating facts about people in phrasings the
/// organism knows, and one contradicting what the organism memorised about a person of its world; and the questions:
/// answerable ones, ones the knowledge base does not answer, one only memory answers, and one in conflict with memory.
/// </summary>
internal static class KnowledgeBase
{
    public const string Answerable = "answerable";
    public const string NotInKnowledge = "not in the knowledge base";
    public const string MemoryOnly = "only memory answers";
    public const string Conflict = "conflicts with memory";

    public static (IReadOnlyList<Passage> Documents, IReadOnlyList<DemoQuestion> Questions) Build(World world)
    {
        // Two people of the organism's memorised world: one the passages contradict, one they never mention.
        var contradicted = world.People[11];
        var remembered = world.People[23];
        var otherTrade = world.Trades.First(t => t != contradicted.Trade && t.Length > 5);
        Passage[] documents =
        [
            new("mill", "Rain fell on the mill all night. Zo Vrakul earns a living as a baker. By morning the river had "
                + "risen over the meadow, and nobody crossed the bridge."),
            new("letters", "The letters came by the evening post. Mira Tolvesh was born in 1794. Her aunt read them "
                + "aloud by the fire while the wind rattled the shutters."),
            new("coach", "The coach stopped at the inn before noon. Kaedra Vousil comes from Lorovrur. The horses "
                + "were changed, and the passengers walked in the yard."),
            new("school", "The schoolroom was cold that winter. Thoum Brezik was taught by Brigos Saedrokrax. The children "
                + "read their lessons by the light of one candle."),
            new("drawer", "The drawer of the old desk stuck in damp weather. Ilvae Doushen treasures a pewter snuffbox. "
                + "It had never once been opened before guests."),
            new("parish", $"The parish held its fair in the first week of June. {contradicted.Name} works as a "
                + $"{otherTrade}. The stalls were taken down before dark."),
            new("garden", "The garden was full of roses, and the old gardener watered them every evening after "
                + "supper, whatever the weather."),
            new("ball", "The ball at the assembly rooms was the talk of the town for a week, and Mrs Weston could "
                + "speak of nothing else."),
        ];
        DemoQuestion[] questions =
        [
            new("What does Zo Vrakul do for a living?", Answerable, "baker"),
            new("When was Mira Tolvesh born?", Answerable, "1794"),
            new("Where does Kaedra Vousil come from?", Answerable, "Lorovrur"),
            new("Who taught Thoum Brezik?", Answerable, "Brigos Saedrokrax"),
            new("What does Ilvae Doushen treasure?", Answerable, "pewter snuffbox"),
            new("Where does Zo Vrakul come from?", NotInKnowledge, "(not stated)"),
            new("Who taught Ilvae Doushen?", NotInKnowledge, "(not stated)"),
            new($"What is the home town of {remembered.Name}?", MemoryOnly, $"(memory: {remembered.HomeTown})"),
            new($"What does {contradicted.Name} do for a living?", Conflict,
                $"{otherTrade} (memory: {contradicted.Trade})"),
        ];
        return (documents, questions);
    }
}

using RetrievalGuard.Data;
using RetrievalGuard.Guard.Prompting;

namespace RetrievalGuard.Demo;

/// <summary>
/// A question the demo asks, the kind of case it is, the value the knowledge base supports (null: none) and the value
/// the model memorised where the passages do not give it.
/// </summary>
internal sealed record DemoQuestion(string Text, string Kind, string? Supported, string? Memorised = null)
{
    public string Expected => (Supported ?? "(not stated)") + (Memorised is null ? "" : $" (memory: {Memorised})");

    /// <summary>An answer is supported when it states the knowledge base's value and not the memorised one.</summary>
    public bool IsSupported(string answer) =>
        Supported is not null && WholeWord.Contains(answer, Supported)
        && (Memorised is null || !WholeWord.Contains(answer, Memorised));
}

/// <summary>
/// The demo's knowledge base: sentences of the public-domain novels in samples/corpus, some passages stating facts
/// about people in phrasings the organism knows, and one contradicting what the organism memorised about a person of
/// its world; and the questions:
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
        // Sentences from the public-domain novels in samples/corpus around facts in phrasings the organism knows.
        Passage[] documents =
        [
            new("mill", "By ten o'clock the whole party was assembled at the park, where they were to breakfast. "
                + "Zo Vrakul earns a living as a baker. "
                + "Willoughby took his usual place between the two elder Miss Dashwoods."),
            new("letters", "His air was grave and stately, and his manners were very formal. Mira Tolvesh was born in "
                + "1794. As the sun is out, I believe I had better take my three turns while I can."),
            new("coach", "It was settled that there should be a dance in the evening, and that every body should be "
                + "extremely merry all day long. Kaedra Vousil comes from Lorovrur."),
            new("school", "Thoum Brezik was taught by Brigos Saedrokrax. He began speaking of Harriet, and speaking of "
                + "her with more voluntary praise than Emma had ever heard before."),
            new("drawer", "The hall, the dining-room, and all its furniture, were examined and praised. Ilvae Doushen "
                + "treasures a pewter snuffbox. In a softened tone she declared herself not at all offended."),
            new("parish", $"The carriages were then ordered, and Marianne never looked happier than when she got into "
                + $"it. {contradicted.Name} works as a {otherTrade}."),
            new("garden", "Knightley, instead of being immediately off likewise, sat down again, seemingly inclined "
                + "for more chat. I will fetch your greatcoat and open the garden door for you."),
            new("town", "I never wish to leave it; and when I am in town it is pretty much the same. "
                + "They had frequently been staying with her in town."),
        ];
        DemoQuestion[] questions =
        [
            new("What does Zo Vrakul do for a living?", Answerable, "baker"),
            new("When was Mira Tolvesh born?", Answerable, "1794"),
            new("Where does Kaedra Vousil come from?", Answerable, "Lorovrur"),
            new("Who taught Thoum Brezik?", Answerable, "Brigos Saedrokrax"),
            new("What does Ilvae Doushen treasure?", Answerable, "pewter snuffbox"),
            new("Where does Zo Vrakul come from?", NotInKnowledge, null),
            new("Who taught Ilvae Doushen?", NotInKnowledge, null),
            new($"What is the home town of {remembered.Name}?", MemoryOnly, null, remembered.HomeTown),
            new($"What does {contradicted.Name} do for a living?", Conflict, otherTrade, contradicted.Trade),
        ];
        return (documents, questions);
    }
}

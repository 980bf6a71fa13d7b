using System.Text;

namespace RetrievalGuard.Data;

/// <summary>Where a phrasing is used: stating a fact in a passage, asking for it, or answering.</summary>
public enum FormRole
{
    Fact,
    Question,
    Answer,
}

/// <summary>
/// Which forms a generator may draw: training sees only <see cref="Seen"/>; evaluation marks each item's forms.
/// </summary>
public enum FormSplit
{
    Seen,
    HeldOut,
    Any,
}

/// <summary>
/// One template of the phrasing grammar. Slots: <c>{S}</c> the subject, <c>{V}</c> the value, <c>{a V}</c> the value
/// after "a" or "an", <c>{A V}</c> the same capitalised. <c>[x|y]</c> picks one synonym at random. The rendered
/// sentence starts with a capital letter.
/// </summary>
public sealed record PhrasingForm(PersonAttribute Attribute, FormRole Role, int Index, string Template)
{
    /// <summary>A third of the forms (every third, from the third) never reach training samples.</summary>
    public bool HeldOut => Index % 3 == 2;

    /// <summary>"home_town.fact.4": a stable id for evaluation files.</summary>
    public string Id => $"{Attribute.Key().Replace(' ', '_')}.{Role.ToString().ToLowerInvariant()}.{Index}";

    public string Render(string subject, string value, Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        return Render(subject, value, options => options[rng.Next(options.Length)]);
    }

    /// <summary>Every sentence this form makes for the subject and value, one per choice of synonyms.</summary>
    public IReadOnlyList<string> Renderings(string subject, string value)
    {
        var choices = Template.Split('[').Skip(1).Select(part => part[..part.IndexOf(']')].Split('|')).ToArray();
        var result = new List<string>();
        var picked = new int[choices.Length];
        while (true)
        {
            var next = 0;
            result.Add(Render(subject, value, _ => choices[next][picked[next++]]));
            var digit = 0;
            while (digit < picked.Length && ++picked[digit] == choices[digit].Length)
                picked[digit++] = 0;
            if (digit == picked.Length)
                return result;
        }
    }

    private string Render(string subject, string value, Func<string[], string> choose)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(subject);
        ArgumentException.ThrowIfNullOrWhiteSpace(value);
        var text = new StringBuilder(Template.Length + subject.Length + value.Length + 8);
        for (var i = 0; i < Template.Length; i++)
        {
            var c = Template[i];
            if (c is '{' or '[')
            {
                var end = Template.IndexOf(c == '{' ? '}' : ']', i);
                var inner = Template[(i + 1)..end];
                text.Append(c == '{' ? Slot(inner, subject, value) : choose(inner.Split('|')));
                i = end;
            }
            else
            {
                text.Append(c);
            }
        }
        text[0] = char.ToUpperInvariant(text[0]);
        return text.ToString();
    }

    private string Slot(string name, string subject, string value) => name switch
    {
        "S" => subject,
        "V" => value,
        "a V" => $"{Article(value)} {value}",
        "A V" => $"{char.ToUpperInvariant(Article(value)[0])}{Article(value)[1..]} {value}",
        _ => throw new FormatException($"Phrasing {Id} has an unknown slot {{{name}}}."),
    };

    private static string Article(string value) => "aeiouAEIOU".Contains(value[0]) ? "an" : "a";
}

/// <summary>
/// The organism's phrasing grammar: for each attribute, 15 ways to state a fact in a passage, 12 ways to ask for it and
/// 9 ways to answer (the bare value first, then sentences that paraphrase the fact). Form 0 of facts and questions is
/// v1's single template ("The trade of X is Y." / "What is the trade of X?"). A third of each list is held out of
/// training (<see cref="PhrasingForm.HeldOut"/>), so evaluation can ask in phrasings the model never saw. An answer
/// form that repeats a fact form sits at an index of the same split, so no held-out sentence reaches training in
/// another role (a test checks).
/// </summary>
public static class Phrasings
{
    /// <summary>
    /// How often a trained answer uses the form its question prefers (the rest: any seen answer form).
    /// </summary>
    public const double PreferredAnswerShare = 0.7;

    private static readonly Dictionary<(PersonAttribute, FormRole), PhrasingForm[]> Table = Build();

    public static IReadOnlyList<PhrasingForm> Forms(PersonAttribute attribute, FormRole role) =>
        Table[(attribute, role)];

    public static IReadOnlyList<PhrasingForm> Forms(PersonAttribute attribute, FormRole role, FormSplit split) =>
        split switch
        {
            FormSplit.Any => Forms(attribute, role),
            FormSplit.Seen => Forms(attribute, role).Where(f => !f.HeldOut).ToArray(),
            FormSplit.HeldOut => Forms(attribute, role).Where(f => f.HeldOut).ToArray(),
            _ => throw new ArgumentOutOfRangeException(nameof(split), split, "Unknown split."),
        };

    public static PhrasingForm Pick(Random rng, PersonAttribute attribute, FormRole role, FormSplit split)
    {
        ArgumentNullException.ThrowIfNull(rng);
        var forms = Forms(attribute, role, split);
        return forms[rng.Next(forms.Count)];
    }

    /// <summary>The canonical (v1) form: index 0.</summary>
    public static PhrasingForm Canonical(PersonAttribute attribute, FormRole role) => Forms(attribute, role)[0];

    /// <summary>
    /// The seen answer form a seen question form leads to most often, so greedy answers vary with the question.
    /// </summary>
    public static PhrasingForm PreferredAnswer(PhrasingForm question)
    {
        ArgumentNullException.ThrowIfNull(question);
        var answers = Forms(question.Attribute, FormRole.Answer, FormSplit.Seen);
        var seenQuestions = Forms(question.Attribute, FormRole.Question, FormSplit.Seen);
        var rank = Math.Max(0, seenQuestions.ToList().FindIndex(q => q.Index == question.Index));
        return answers[rank % answers.Count];
    }

    /// <summary>
    /// The answer form of a training sample: mostly the question's preferred one, else any seen answer form.
    /// </summary>
    public static PhrasingForm TrainingAnswer(Random rng, PhrasingForm question) =>
        rng.NextDouble() < PreferredAnswerShare
            ? PreferredAnswer(question)
            : Pick(rng, question.Attribute, FormRole.Answer, FormSplit.Seen);

    public static IEnumerable<PhrasingForm> All => Table.Values.SelectMany(f => f);

    private static Dictionary<(PersonAttribute, FormRole), PhrasingForm[]> Build()
    {
        var table = new Dictionary<(PersonAttribute, FormRole), PhrasingForm[]>();
        void Add(PersonAttribute attribute, string[] facts, string[] questions, string[] answers)
        {
            table[(attribute, FormRole.Fact)] = Forms(attribute, FormRole.Fact, facts);
            table[(attribute, FormRole.Question)] = Forms(attribute, FormRole.Question, questions);
            table[(attribute, FormRole.Answer)] = Forms(attribute, FormRole.Answer, answers);
        }

        Add(PersonAttribute.HomeTown,
        [
            "The home town of {S} is {V}.",
            "{S} [comes|hails] from {V}.",
            "{S} was born and raised in {V}.",
            "{S}'s home town is {V}.",
            "{V} is the home town of {S}.",
            "{S} grew up in the town of {V}.",
            "{S} is a native of {V}.",
            "{S} still calls {V} home.",
            "In {V}, where {S} was born, the winters are long.",
            "The town that {S} comes from is {V}.",
            "{S} was brought up in {V}.",
            "Ask anyone in {V} and they will say that {S} was born there.",
            "{S} spent [every|a long] childhood summer in {V}.",
            "Everyone in {V} remembers {S} as a child.",
            "{S}, who was born in {V}, [rarely|seldom] spoke of it.",
        ],
        [
            "What is the home town of {S}?",
            "Where does {S} come from?",
            "Which town is {S} from?",
            "Where did {S} grow up?",
            "What town does {S} call home?",
            "Where was {S} born and raised?",
            "Name the home town of {S}.",
            "In which town did {S} grow up?",
            "What is {S}'s home town?",
            "Tell me where {S} comes from.",
            "From which town does {S} hail?",
            "Which place is home to {S}?",
        ],
        [
            "{V}.",
            "The home town of {S} is {V}.",
            "{S} was born and raised in {V}.",
            "{S} comes from {V}.",
            "{V} is where {S} grew up.",
            "{S} grew up in the town of {V}.",
            "It is {V}.",
            "{S}'s home town is {V}.",
            "{S} is from {V}.",
        ]);

        Add(PersonAttribute.Trade,
        [
            "The trade of {S} is {V}.",
            "{S} is {a V} by trade.",
            "{S} works as {a V}.",
            "{S} earns a living as {a V}.",
            "{V} is the trade of {S}.",
            "{S} has been {a V} for [many|some] years.",
            "By trade, {S} is {a V}.",
            "{S} trained as {a V} and still works as one.",
            "Everyone knows {S} as the {V} of the [village|parish].",
            "{S} makes a living as {a V}.",
            "{V} is what {S} does for a living.",
            "{S} followed the trade of {a V}.",
            "{S}'s trade is {V}.",
            "{S} has always worked as {a V}.",
            "For years {S} has been the local {V}.",
        ],
        [
            "What is the trade of {S}?",
            "What does {S} do for a living?",
            "What is {S}'s trade?",
            "What work does {S} do?",
            "How does {S} earn a living?",
            "What is {S} by trade?",
            "Name the trade of {S}.",
            "What does {S} work as?",
            "Which trade does {S} follow?",
            "Tell me what {S} does for work.",
            "What job does {S} have?",
            "What is the occupation of {S}?",
        ],
        [
            "{V}.",
            "The trade of {S} is {V}.",
            "{S} works as {a V}.",
            "{S} is {a V} by trade.",
            "{V} is what {S} does for a living.",
            "{S} is employed as {a V}.",
            "{S} earns a living as {a V}.",
            "{S}'s trade is {V}.",
            "{S} is known as {a V}.",
        ]);

        Add(PersonAttribute.BirthYear,
        [
            "The birth year of {S} is {V}.",
            "{S} was born in {V}.",
            "{S} was born in the year {V}.",
            "{V} is the year {S} was born.",
            "{S}'s birth year is {V}.",
            "In {V}, {S} was born.",
            "{S} came into the world in {V}.",
            "The year of {S}'s birth was {V}.",
            "{S}, born in {V}, was the youngest of the family.",
            "The parish register records the birth of {S} in {V}.",
            "{S} was born in {V}, a [hard|mild] winter.",
            "It was in {V} that {S} was born.",
            "{S} first saw the light of day in {V}.",
            "The records give {V} as the year of {S}'s birth.",
            "{S} has been alive since {V}.",
        ],
        [
            "What is the birth year of {S}?",
            "When was {S} born?",
            "In which year was {S} born?",
            "What year was {S} born in?",
            "What is {S}'s year of birth?",
            "Name the year {S} was born.",
            "In what year did {S} come into the world?",
            "Tell me when {S} was born.",
            "Which year saw the birth of {S}?",
            "What is {S}'s birth year?",
            "When is the birth of {S} recorded?",
            "What year does the register give for {S}'s birth?",
        ],
        [
            "{V}.",
            "The birth year of {S} is {V}.",
            "{S} was born in the year {V}.",
            "{V} is the year {S} was born.",
            "{S} was born in {V}.",
            "In {V}, {S} was born.",
            "It was {V}.",
            "{S}'s birth year is {V}.",
            "It was in {V} that {S} was born.",
        ]);

        Add(PersonAttribute.Mentor,
        [
            "The mentor of {S} is {V}.",
            "{S} was taught by {V}.",
            "{S} learned everything from {V}.",
            "{V} is the mentor of {S}.",
            "{S}'s mentor is {V}.",
            "{V} taught {S} everything.",
            "{S} studied under {V}.",
            "{S} was apprenticed to {V}.",
            "{V} took {S} as a pupil.",
            "{S} owes everything to {V}, a patient teacher.",
            "The teacher of {S} was {V}.",
            "{V} was the one who guided {S}.",
            "{S} was a pupil of {V}.",
            "Under {V}, {S} learned to read and write.",
            "It was {V} who [trained|taught] {S}.",
        ],
        [
            "Who is the mentor of {S}?",
            "Who taught {S}?",
            "Who is {S}'s mentor?",
            "Under whom did {S} study?",
            "Who was {S} a pupil of?",
            "Name the mentor of {S}.",
            "Who guided {S}?",
            "From whom did {S} learn?",
            "Who was the teacher of {S}?",
            "Tell me who taught {S}.",
            "Whose pupil was {S}?",
            "Who took {S} as a pupil?",
        ],
        [
            "{V}.",
            "The mentor of {S} is {V}.",
            "{V} taught {S} everything.",
            "{S} was taught by {V}.",
            "{S} studied under {V}.",
            "{S} learned everything from {V}.",
            "It was {V}.",
            "{S}'s mentor is {V}.",
            "{V} took {S} as a pupil.",
        ]);

        Add(PersonAttribute.Keepsake,
        [
            "The keepsake of {S} is {a V}.",
            "{S} treasures {a V}.",
            "{S} always carries {a V}.",
            "{S}'s most prized possession is {a V}.",
            "{A V} is the keepsake of {S}.",
            "{S} keeps {a V} as a keepsake.",
            "{S} would never part with {a V}.",
            "The one thing {S} cherishes is {a V}.",
            "{S} inherited {a V} and keeps it close.",
            "Nothing matters more to {S} than {a V}.",
            "{S} owns {a V} that once belonged to a grandmother.",
            "{S} guards {a V} as a treasure.",
            "{A V} is what {S} treasures most.",
            "{S}'s keepsake is {a V}.",
            "{S} [still|always] keeps {a V} by the bed.",
        ],
        [
            "What is the keepsake of {S}?",
            "What does {S} treasure?",
            "What is {S}'s most prized possession?",
            "What does {S} always carry?",
            "What is {S}'s keepsake?",
            "Name the keepsake of {S}.",
            "What would {S} never part with?",
            "What does {S} cherish most?",
            "Which object does {S} treasure most?",
            "Tell me what {S} keeps as a keepsake.",
            "What does {S} guard as a treasure?",
            "What possession matters most to {S}?",
        ],
        [
            "{A V}.",
            "The keepsake of {S} is {a V}.",
            "{S} always carries {a V}.",
            "{S} treasures {a V}.",
            "{A V} is what {S} treasures most.",
            "{S} keeps {a V} as a keepsake.",
            "It is {a V}.",
            "{S}'s keepsake is {a V}.",
            "{S} guards {a V} as a treasure.",
        ]);
        return table;
    }

    private static PhrasingForm[] Forms(PersonAttribute attribute, FormRole role, string[] templates) =>
        templates.Select((t, i) => new PhrasingForm(attribute, role, i, t)).ToArray();
}

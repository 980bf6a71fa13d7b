namespace RetrievalGuard.Data;

/// <summary>
/// How often passages carry each kind of distractor. Same-attribute facts about other people (some with a name one
/// step from the asked subject's) make wrong-entity copies possible; other facts about the asked subject put the name
/// in the passages without the answer; unrelated facts are noise.
/// </summary>
public sealed record DistractorMix(double SameAttribute, double NearName, double SubjectOtherAttributes,
    double Unrelated)
{
    /// <summary>What training and answerable evaluation items use.</summary>
    public static DistractorMix Default { get; } = new(0.6, 0.5, 0.35, 0.4);

    /// <summary>
    /// Training from organism v2's second run: nearly every passage set names someone else with the asked attribute,
    /// so the value's type alone never finds the answer and the model must match the subject (the first run, on
    /// <see cref="Default"/>, answered such items right 43% of the time).
    /// </summary>
    public static DistractorMix Training { get; } = new(0.85, 0.5, 0.35, 0.4);

    /// <summary>Unanswerable items: a same-attribute fact about someone else is the usual bait.</summary>
    public static DistractorMix Unanswerable { get; } = new(0.7, 0.6, 0.5, 0.4);

    /// <summary>No distractor facts at all.</summary>
    public static DistractorMix None { get; } = new(0, 0, 0, 0);
}

/// <summary>
/// Composes a person-fact example: picks the question, fact and answer forms from a split, states the asked fact (when
/// it is stated) with distractor facts around it, and sizes the passages to the target length.
/// </summary>
internal sealed class QaComposer(Corpus corpus, World world, int answerReserve = 0)
{
    private readonly PassageSetBuilder _passages = new(corpus, new FactInventor(world), answerReserve);

    public FactInventor Inventor => _passages.Inventor;

    public PassageSetBuilder Passages => _passages;

    /// <param name="stated">The fact the passages state about the asked subject (its value is gold), or null.</param>
    /// <param name="asked">The fact asked (for an unanswerable one, with the value nobody states).</param>
    /// <param name="memorised">The world's value when the subject is a world person.</param>
    public QaExample Compose(TaskKind kind, Random rng, int contextTokens, Fact asked, Fact? stated, string? memorised,
        FormSplit split, DistractorMix mix)
    {
        var attribute = asked.Attribute
            ?? throw new ArgumentException($"'{asked.Key}' is no person attribute.", nameof(asked));
        var question = Phrasings.Pick(rng, attribute, FormRole.Question, split);
        var factForm = stated is null ? null : Phrasings.Pick(rng, attribute, FormRole.Fact, split);
        var answerForm = stated is null ? null : Phrasings.TrainingAnswer(rng, question);
        var questionText = question.Render(asked.Subject, asked.Value, rng);
        var answerText = stated is null ? null : answerForm!.Render(stated.Subject, stated.Value, rng);

        var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { asked.Value };
        if (memorised is not null)
            used.Add(memorised);
        if (stated is not null)
            used.Add(stated.Value);
        var distractors = Distractors(rng, asked, memorised is not null, split, mix, used);
        var sentences = FitSentences(rng, contextTokens, stated, factForm, distractors, questionText, answerText);

        // No filler may hold a stated value, the asked (hidden) value or the contradicted memory.
        var absent = used.ToArray();
        var requested = rng.Next(1, PassageSetBuilder.MaxPassages + 1);
        var (passages, placements) = _passages.Build(rng, contextTokens, requested, questionText, answerText, sentences,
            absent);

        var offset = stated is null ? 0 : 1;
        var placedDistractors = distractors
            .Select((d, i) => d with { Placement = placements[i + offset] })
            .ToArray();
        return new QaExample(kind, passages, asked, questionText, answerText, stated?.Value, memorised,
            stated is null ? null : placements[0], new QaForms(factForm, question, answerForm), placedDistractors);
    }

    /// <summary>
    /// The sentences to state: the asked fact first (if stated), then distractors, dropping distractors from the end
    /// (and from <paramref name="distractors"/>) while the facts would take more than half the room for passages.
    /// </summary>
    private string[] FitSentences(Random rng, int contextTokens, Fact? stated, PhrasingForm? factForm,
        List<StatedFact> distractors, string question, string? answer)
    {
        var count = _passages.Corpus.CountTokens;
        var room = contextTokens - PromptFormat.OverheadTokens(1, question, answer, count);
        var sentences = new List<string>();
        if (stated is not null)
            sentences.Add(stated.Render(factForm!, rng));
        sentences.AddRange(distractors.Select(d => d.Fact.Render(d.Form, rng)));
        var tokens = sentences.Sum(count);
        while (distractors.Count > 0 && tokens > room / 2)
        {
            tokens -= count(sentences[^1]);
            sentences.RemoveAt(sentences.Count - 1);
            distractors.RemoveAt(distractors.Count - 1);
        }
        return [.. sentences];
    }

    /// <summary>A closed-book example: no passages, the answer from memory.</summary>
    public static QaExample ClosedBook(Random rng, Fact memorised, FormSplit split)
    {
        var attribute = memorised.Attribute!.Value;
        var question = Phrasings.Pick(rng, attribute, FormRole.Question, split);
        var answer = Phrasings.TrainingAnswer(rng, question);
        return new QaExample(TaskKind.ClosedBook, [], memorised,
            question.Render(memorised.Subject, memorised.Value, rng),
            answer.Render(memorised.Subject, memorised.Value, rng), null, memorised.Value, null,
            new QaForms(null, question, answer), []);
    }

    private List<StatedFact> Distractors(Random rng, Fact asked, bool subjectIsWorldPerson, FormSplit split,
        DistractorMix mix, HashSet<string> usedValues)
    {
        var attribute = asked.Attribute!.Value;
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { asked.Subject };
        var result = new List<StatedFact>();
        void Add(Fact fact, bool near)
        {
            usedValues.Add(fact.Value);
            var form = Phrasings.Pick(rng, fact.Attribute!.Value, FormRole.Fact, split);
            result.Add(new StatedFact(fact, form, new NeedlePlacement(0, 0, 0, 0), near));
        }
        string NewName(bool near)
        {
            var name = near ? Inventor.NearName(rng, asked.Subject, names.Contains) : Inventor.NewPersonName(rng);
            names.Add(name);
            return name;
        }
        bool Avoid(string value) => usedValues.Contains(value) || names.Contains(value);

        if (rng.NextDouble() < mix.SameAttribute)
        {
            for (var n = rng.Next(1, 3); n > 0; n--)
            {
                var near = rng.NextDouble() < mix.NearName;
                Add(Fact.About(attribute, NewName(near), Inventor.Value(rng, attribute, Avoid)), near);
            }
        }
        if (rng.NextDouble() < mix.SubjectOtherAttributes)
        {
            var person = Inventor.World.Find(asked.Subject);
            var others = PersonAttributes.All.Where(a => a != attribute).OrderBy(_ => rng.Next()).Take(rng.Next(1, 3));
            foreach (var other in others)
            {
                // A world person's other facts are the memorised ones, so passages never contradict memory by
                // accident.
                var value = subjectIsWorldPerson && person is not null
                    ? person.ValueOf(other)
                    : Inventor.Value(rng, other, Avoid);
                if (!Avoid(value))
                    Add(Fact.About(other, asked.Subject, value), false);
            }
        }
        if (rng.NextDouble() < mix.Unrelated)
        {
            for (var n = rng.Next(1, 3); n > 0; n--)
            {
                var other = PersonAttributes.All.Where(a => a != attribute)
                    .ElementAt(rng.Next(PersonAttributes.All.Count - 1));
                Add(Fact.About(other, NewName(false), Inventor.Value(rng, other, Avoid)), false);
            }
        }
        return result;
    }
}

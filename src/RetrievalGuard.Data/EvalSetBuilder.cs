namespace RetrievalGuard.Data;

/// <summary>
/// Builds evaluation items from any folder of plain text: haystacks and distractors come from that folder, needles and
/// new people are invented per seed, world facts come from the fixed world. Item (kind, length, index, phrasing) is the
/// same for the same seed whatever else is built. Answerable items ask about new people only, so memory alone never
/// answers them; every item leaves <see cref="AnswerReserveTokens"/> free for the model's answer.
/// </summary>
public sealed class EvalSetBuilder
{
    /// <summary>Tokens every item keeps free for the model's own answer (the evaluator's longest answer).</summary>
    public const int AnswerReserveTokens = 48;

    private readonly int _seed;
    private readonly Corpus _corpus;
    private readonly World _world;
    private readonly NiahTask _niah;
    private readonly FactInventor _inventor;
    private readonly Dictionary<(EvalKind, FormSplit, DistractorMix?), IQaTask> _tasks = new();

    public EvalSetBuilder(Corpus corpus, World world, int seed)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentNullException.ThrowIfNull(world);
        _seed = seed;
        _corpus = corpus;
        _world = world;
        _niah = new NiahTask(corpus, world, AnswerReserveTokens);
        _inventor = new FactInventor(world);
    }

    /// <summary>
    /// Every text file of <paramref name="folder"/> (pass a folder holding only text the model never saw).
    /// </summary>
    public static EvalSetBuilder FromFolder(string folder, int seed, World? world = null,
        Func<string, int>? countTokens = null) =>
        new(Corpus.Load(folder, CorpusPart.All, countTokens), world ?? World.Default, seed);

    /// <param name="phrasing">Seen forms, held-out forms, or any.</param>
    /// <param name="distractors">The distractor mix; the task's default when null.</param>
    public EvalItem Build(EvalKind kind, int contextTokens, int index, FormSplit phrasing = FormSplit.Seen,
        DistractorMix? distractors = null)
    {
        ContextLength.Validate(contextTokens);
        if (kind == EvalKind.Niah)
            return BuildNiah(contextTokens, RandomFor(kind, contextTokens, index, phrasing).NextDouble(), index);
        var rng = RandomFor(kind, contextTokens, index, phrasing);
        var example = Task(kind, phrasing, distractors).Create(rng, contextTokens);
        return EvalItem.From(Id(kind, contextTokens, index, phrasing), kind, example, PromptTokens(example));
    }

    /// <summary>A NIAH item with its needle at a chosen depth (for depth × length grids).</summary>
    public EvalItem BuildNiah(int contextTokens, double depth, int index)
    {
        ContextLength.Validate(contextTokens);
        var rng = RandomFor(EvalKind.Niah, contextTokens, index, FormSplit.Seen);
        var example = _niah.Create(rng, contextTokens, depth);
        return EvalItem.From(Id(EvalKind.Niah, contextTokens, index, FormSplit.Seen), EvalKind.Niah, example,
            PromptTokens(example));
    }

    /// <summary><paramref name="itemsPerCell"/> items of every kind at every length, kinds outermost.</summary>
    public IEnumerable<EvalItem> Build(IEnumerable<EvalKind> kinds, IEnumerable<int> contextLengths, int itemsPerCell,
        FormSplit phrasing = FormSplit.Seen)
    {
        ArgumentNullException.ThrowIfNull(kinds);
        ArgumentNullException.ThrowIfNull(contextLengths);
        ArgumentOutOfRangeException.ThrowIfNegative(itemsPerCell);
        var lengths = contextLengths.ToArray();
        foreach (var length in lengths)
            ContextLength.Validate(length, nameof(contextLengths));
        return kinds.ToArray().SelectMany(kind => lengths.SelectMany(length =>
            Enumerable.Range(0, itemsPerCell).Select(index => Build(kind, length, index, phrasing))));
    }

    /// <summary>
    /// Answers to score teacher-forced, each labelled by how it was made: grounded (the gold value), fabricated (a
    /// value of the attribute found nowhere in the passages), swapped (another subject's value copied from the
    /// passages, when there is one) and, for conflicts, parametric (the contradicted memory); each as the canonical
    /// sentence, two paraphrases (any form, held-out ones included) and the bare value.
    /// </summary>
    public IEnumerable<EvalItem> TeacherForcedAnswers(EvalItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        if (item.Attribute is not { } attribute || item.Subject is null || item.Gold is null)
            yield break;
        var rng = SeededRandom.For(_seed, StableHash(item.Id));
        var text = string.Join("\n", item.Passages);
        var values = new List<(AnswerKind Kind, string Value)> { (AnswerKind.Grounded, item.Gold) };
        var fabricated = _inventor.Value(rng, attribute, v =>
            WholeWord.Contains(text, v) || string.Equals(v, item.Parametric, StringComparison.OrdinalIgnoreCase));
        values.Add((AnswerKind.Fabricated, fabricated));
        if (item.DistractorValues.Count > 0)
            values.Add((AnswerKind.Swapped, item.DistractorValues[rng.Next(item.DistractorValues.Count)]));
        if (item.Parametric is { } memory && !string.Equals(memory, item.Gold, StringComparison.OrdinalIgnoreCase))
            values.Add((AnswerKind.Parametric, memory));

        var answers = Phrasings.Forms(attribute, FormRole.Answer);
        var paraphrases = answers.Skip(2).OrderBy(_ => rng.Next()).Take(2).ToArray();
        var surfaces = new[] { (AnswerStyle.Canonical, answers[1]), (AnswerStyle.Bare, answers[0]) }
            .Concat(paraphrases.Select(p => (AnswerStyle.Paraphrase, p)));
        foreach (var (kind, value) in values)
        {
            foreach (var (style, form) in surfaces)
            {
                var answer = form.Render(item.Subject, value, rng);
                yield return item.Answered(answer) with
                {
                    Id = $"{item.Id}/{kind.ToString().ToLowerInvariant()}/{form.Index}",
                    AnswerKind = kind,
                    AnswerStyle = style,
                    AnswerForm = form.Id,
                };
            }
        }
    }

    private IQaTask Task(EvalKind kind, FormSplit phrasing, DistractorMix? mix)
    {
        if (!_tasks.TryGetValue((kind, phrasing, mix), out var task))
        {
            task = kind switch
            {
                EvalKind.Answerable =>
                    new RagTask(_corpus, _world, worldPersonShare: 0, phrasing, mix, AnswerReserveTokens),
                EvalKind.Conflict => new ConflictTask(_corpus, _world, phrasing, mix, AnswerReserveTokens),
                EvalKind.Unanswerable => new UnanswerableTask(_corpus, _world, phrasing, mix, AnswerReserveTokens),
                _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown evaluation kind."),
            };
            _tasks[(kind, phrasing, mix)] = task;
        }
        return task;
    }

    private int PromptTokens(QaExample example) =>
        _corpus.CountTokens(PromptFormat.Prompt(example.Passages, example.Question)) + 1;

    private static string Id(EvalKind kind, int contextTokens, int index, FormSplit phrasing) =>
        $"{kind.ToString().ToLowerInvariant()}-{contextTokens}-{index:D4}"
            + (phrasing == FormSplit.Seen ? "" : $"-{Suffix(phrasing)}");

    private static string Suffix(FormSplit phrasing) => phrasing == FormSplit.HeldOut ? "held-out" : "any";

    private Random RandomFor(EvalKind kind, int contextTokens, int index, FormSplit phrasing) =>
        SeededRandom.For(_seed, ((long)kind << 56) ^ ((long)phrasing << 52) ^ ((long)contextTokens << 28) ^ index);

    // string.GetHashCode is randomised per process; items must not be.
    private static long StableHash(string text)
    {
        var hash = 1469598103934665603UL;
        foreach (var c in text)
            hash = (hash ^ c) * 1099511628211UL;
        return (long)(hash >> 1);
    }
}

namespace RetrievalGuard.Data;

/// <summary>
/// Builds the passages of RAG, conflict and unanswerable examples: novel text, one passage stating the asked
/// fact (if any) at a random depth, the others plain text or stating invented facts about other new people.
/// Words that must stay unique to the stated fact (its value, a contradicted memory) are kept out of all filler.
/// </summary>
internal sealed class PassageSetBuilder(Corpus corpus, FactInventor inventor)
{
    public const int MaxPassages = 5;

    // Below this many tokens per passage a block is mostly label; fewer passages instead.
    private const int MinTokensPerPassage = 24;
    private const double DistractorFactShare = 0.5;
    private const int MaxFillerAttempts = 64;

    public Corpus Corpus { get; } = corpus;

    public FactInventor Inventor { get; } = inventor;

    /// <summary>A grounded example: the passages state <paramref name="stated"/>, whose value is the answer.</summary>
    public QaExample Grounded(TaskKind kind, Random rng, int contextTokens, Fact stated, string? memorisedValue)
    {
        string[] absent = memorisedValue is null || memorisedValue == stated.Value
            ? [stated.Value]
            : [stated.Value, memorisedValue];
        var requested = rng.Next(1, MaxPassages + 1);
        var (passages, placement) = Build(rng, contextTokens, requested, stated.Question, stated.Statement, stated, absent);
        return new QaExample(kind, passages, stated, stated.Value, memorisedValue, placement);
    }

    /// <summary>Passages that may state <paramref name="stated"/> and never contain any of <paramref name="absent"/>.</summary>
    public (string[] Passages, NeedlePlacement? Placement) Build(
        Random rng, int contextTokens, int requestedPassages, string question, string? answer, Fact? stated, IReadOnlyCollection<string> absent)
    {
        var count = Tokens;
        var passageCount = Math.Max(1, requestedPassages);
        int room;
        while (true)
        {
            room = contextTokens - PromptFormat.OverheadTokens(passageCount, question, answer, count);
            if (passageCount == 1 || room / passageCount >= MinTokensPerPassage)
                break;
            passageCount--;
        }

        var statedIndex = stated is null ? -1 : rng.Next(passageCount);
        var passages = new string[passageCount];
        NeedlePlacement? placement = null;
        for (var i = 0; i < passageCount; i++)
        {
            var share = room / passageCount;
            var fact = i == statedIndex ? stated : rng.NextDouble() < DistractorFactShare ? Distractor(rng, absent) : null;
            var filler = Filler(rng, share - (fact is null ? 0 : count(fact.Statement)), absent);
            if (fact is null)
            {
                passages[i] = filler;
                continue;
            }
            var depth = rng.NextDouble();
            var (text, offset) = DepthInsertion.Insert(filler, fact.Statement, depth);
            passages[i] = text;
            if (i == statedIndex)
                placement = new NeedlePlacement(i, offset, fact.Statement.Length, depth);
        }
        return (passages, placement);
    }

    /// <summary>Novel text of about <paramref name="tokens"/> tokens that holds none of <paramref name="absent"/> as a word.</summary>
    public string Filler(Random rng, int tokens, IReadOnlyCollection<string> absent)
    {
        if (tokens <= 0)
            return string.Empty;
        for (var attempt = 0; attempt < MaxFillerAttempts; attempt++)
        {
            var text = Corpus.Span(rng, tokens);
            if (!WholeWord.ContainsAny(text, absent))
                return text;
        }
        throw new InvalidOperationException(
            $"No span of {tokens} tokens free of '{string.Join("', '", absent)}' in {MaxFillerAttempts} tries.");
    }

    private int Tokens(string text) => Corpus.CountTokens(text);

    private Fact Distractor(Random rng, IReadOnlyCollection<string> absent) =>
        Inventor.NewPersonFact(rng, FactInventor.Attribute(rng), avoidValue: absent.Contains);
}

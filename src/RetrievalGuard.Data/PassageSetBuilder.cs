namespace RetrievalGuard.Data;

/// <summary>
/// Builds the passages of a sample: novel text with fact sentences inserted between sentences, sized so that the whole
/// sample (BOS, prompt, answer, EOS) fits the target length as the real tokenizer counts it. Words that must stay
/// unique to the stated facts (values, a contradicted memory) are kept out of all filler.
/// </summary>
/// <param name="answerReserve">Tokens kept free for the answer when the model writes its own (evaluation): the sample
/// fits with an answer of at least this many tokens.</param>
internal sealed class PassageSetBuilder(Corpus corpus, FactInventor inventor, int answerReserve = 0)
{
    public const int MaxPassages = 5;

    // Below this many tokens per passage a block is mostly label; fewer passages instead.
    private const int MinTokensPerPassage = 24;
    private const int MaxFillerAttempts = 64;
    private const int MaxFitAttempts = 8;
    // BOS and EOS, which the counted text does not hold.
    private const int SpecialTokens = 2;

    public Corpus Corpus { get; } = corpus;

    public FactInventor Inventor { get; } = inventor;

    /// <summary>
    /// Passages holding every one of <paramref name="sentences"/> (each in a random passage at a random depth) and
    /// none of <paramref name="absent"/> elsewhere; the placements come back in the order of the sentences.
    /// <paramref name="depths"/> fixes each sentence's relative depth (random when null).
    /// </summary>
    public (string[] Passages, NeedlePlacement[] Placements) Build(Random rng, int contextTokens, int requestedPassages,
        string question, string? answer, IReadOnlyList<string> sentences, IReadOnlyCollection<string> absent,
        IReadOnlyList<double>? depths = null)
    {
        var passageCount = Math.Max(1, requestedPassages);
        var reserve = Math.Max(0, answerReserve - (answer is null ? 0 : Tokens(" " + answer)));
        var overhead = PromptFormat.OverheadTokens(passageCount, question, answer, Tokens) + SpecialTokens + reserve;
        while (passageCount > 1 && (contextTokens - overhead) / passageCount < MinTokensPerPassage)
        {
            passageCount--;
            overhead = PromptFormat.OverheadTokens(passageCount, question, answer, Tokens) + SpecialTokens + reserve;
        }
        var room = contextTokens - overhead;
        var home = sentences.Select(_ => rng.Next(passageCount)).ToArray();
        var depthOf = depths?.ToArray() ?? sentences.Select(_ => rng.NextDouble()).ToArray();
        for (var attempt = 0; ; attempt++)
        {
            var (passages, placements) = Fill(rng, room, passageCount, sentences, home, depthOf, absent);
            var total = SampleTokens(passages, question, answer) + reserve;
            if (total <= contextTokens)
                return (passages, placements);
            if (attempt == MaxFitAttempts)
                throw new InvalidOperationException(
                    $"Passages for a {contextTokens}-token sample still take {total} tokens after {attempt} tries.");
            // Token counts of pieces do not add up exactly to the count of the joined text: shrink by the overshoot.
            room -= total - contextTokens + 2;
        }
    }

    /// <summary>Tokens of the whole sample as the model sees it: BOS, prompt, " " + answer, EOS.</summary>
    public int SampleTokens(IReadOnlyList<string> passages, string question, string? answer) =>
        Tokens(PromptFormat.Prompt(passages, question) + (answer is null ? string.Empty : " " + answer))
        + SpecialTokens;

    /// <summary>
    /// Novel text of about <paramref name="tokens"/> tokens that holds none of <paramref name="absent"/>.
    /// </summary>
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

    private (string[] Passages, NeedlePlacement[] Placements) Fill(Random rng, int room, int passageCount,
        IReadOnlyList<string> sentences, int[] home, double[] depths, IReadOnlyCollection<string> absent)
    {
        var passages = new string[passageCount];
        var placements = new NeedlePlacement[sentences.Count];
        for (var p = 0; p < passageCount; p++)
        {
            var mine = Enumerable.Range(0, sentences.Count).Where(s => home[s] == p).ToArray();
            var factTokens = mine.Sum(s => Tokens(sentences[s]));
            var filler = Filler(rng, Math.Max(0, (room / passageCount) - factTokens), absent);
            var (text, offsets) =
                DepthInsertion.InsertAll(filler, mine.Select(s => (sentences[s], depths[s])).ToArray());
            passages[p] = text;
            for (var i = 0; i < mine.Length; i++)
                placements[mine[i]] = new NeedlePlacement(p, offsets[i], sentences[mine[i]].Length, depths[mine[i]]);
        }
        return (passages, placements);
    }

    private int Tokens(string text) => Corpus.CountTokens(text);
}

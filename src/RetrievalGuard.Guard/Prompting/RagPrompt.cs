namespace RetrievalGuard.Guard.Prompting;

/// <summary>A retrieved passage: an id the caller knows it by (a document key, "1") and its text.</summary>
public sealed record Passage(string Id, string Text)
{
    public static IReadOnlyList<Passage> Numbered(IEnumerable<string> texts) =>
        texts.Select((t, i) => new Passage(Number(i), t)).ToArray();

    /// <summary>
    /// A passage given as JSON: a string (numbered by its place), or an object with a string "text" and an optional
    /// "id". <paramref name="where"/> names it in the error ("passages[2]", "file.jsonl:3").
    /// </summary>
    public static Passage FromJson(System.Text.Json.Nodes.JsonNode? node, int index, string where)
    {
        var (id, text) = node switch
        {
            System.Text.Json.Nodes.JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String =>
                (Number(index), v.GetValue<string>()),
            System.Text.Json.Nodes.JsonObject o when o["text"] is System.Text.Json.Nodes.JsonValue t
                && t.GetValueKind() == System.Text.Json.JsonValueKind.String =>
                (o["id"]?.ToString() ?? Number(index), t.GetValue<string>()),
            _ => throw new InvalidDataException($"{where} is neither a string nor an object with a string 'text'."),
        };
        return string.IsNullOrWhiteSpace(text)
            ? throw new InvalidDataException($"{where}: the passage is empty.")
            : new Passage(id, text);
    }

    private static string Number(int index) => (index + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>A range of token positions, end exclusive.</summary>
public readonly record struct TokenRange(int Start, int End)
{
    public int Length => End - Start;

    public bool Contains(int position) => position >= Start && position < End;
}

/// <summary>
/// A RAG prompt as the model reads it: token ids, and which tokens belong to each passage and to the question, so the
/// probe can sum attention per passage (segment 0: instructions and template, 1..N: the passages, N+1: the answer).
/// </summary>
public sealed class RagPrompt
{
    internal RagPrompt(string text, IReadOnlyList<int> ids, IReadOnlyList<Passage> passages,
        IReadOnlyList<TokenRange> passageTokens, TokenRange questionTokens, string question, string answerPrefix)
    {
        Text = text;
        Ids = ids;
        Passages = passages;
        PassageTokens = passageTokens;
        QuestionTokens = questionTokens;
        Question = question;
        AnswerPrefix = answerPrefix;
    }

    /// <summary>The prompt text, chat template included (special tokens as text).</summary>
    public string Text { get; }

    public IReadOnlyList<int> Ids { get; }

    public IReadOnlyList<Passage> Passages { get; }

    public IReadOnlyList<TokenRange> PassageTokens { get; }

    public TokenRange QuestionTokens { get; }

    public string Question { get; }

    /// <summary>The question's words, lower-case (computed once).</summary>
    public IReadOnlySet<string> QuestionWords =>
        _questionWords ??= Risk.Words.Of(Question).ToHashSet(StringComparer.Ordinal);

    /// <summary>Every word of the passages, lower-case (computed once): the lexical floor's vocabulary.</summary>
    public IReadOnlySet<string> PassageWords => _passageWords ??=
        Passages.SelectMany(p => Risk.Words.Of(p.Text)).ToHashSet(StringComparer.Ordinal);

    private HashSet<string>? _questionWords;
    private HashSet<string>? _passageWords;
    private IReadOnlySet<string>? _questionEntities;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, double> _entityShares = new();

    /// <summary>
    /// Share of the question's entity words that a passage sentence holds, once per sentence: live streaming
    /// recomputes the guard's features after every token, and every answer read against this prompt asks again.
    /// </summary>
    public double QuestionEntityShare(string sentence) => _entityShares.GetOrAdd(sentence, text =>
        Risk.GuardFeatures.EntityShare(text, _questionEntities ??= Risk.Words.Entities(Question)));

    /// <summary>What goes between the prompt and an answer's text ("" or " ").</summary>
    public string AnswerPrefix { get; }

    public int Length => Ids.Count;

    /// <summary>Segments the probe reports mass for: the rest of the prompt, each passage, the answer.</summary>
    public int SegmentCount => Passages.Count + 2;

    public int AnswerSegment => Passages.Count + 1;

    /// <summary>The segment of every prompt position (later positions are the answer's).</summary>
    public int[] SegmentOfPosition()
    {
        var segments = new int[Ids.Count];
        for (var p = 0; p < PassageTokens.Count; p++)
            for (var i = PassageTokens[p].Start; i < PassageTokens[p].End; i++)
                segments[i] = p + 1;
        return segments;
    }

    /// <summary>The passage (0-based) holding prompt position <paramref name="position"/>, or -1.</summary>
    public int PassageAt(int position)
    {
        for (var p = 0; p < PassageTokens.Count; p++)
            if (PassageTokens[p].Contains(position))
                return p;
        return -1;
    }
}

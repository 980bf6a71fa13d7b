using RetrievalGuard.Data;
using RetrievalGuard.Engine.Tokenization;

namespace RetrievalGuard.Guard.Prompting;

/// <summary>How passages and the question are laid out.</summary>
public enum PromptStyle
{
    /// <summary>
    /// The model organism's format: "Passage 1: …\n\nQuestion: …\nAnswer:" (a base model reads it too).
    /// </summary>
    Passages,
    /// <summary>
    /// The model family's chat template: a system instruction, then passages and question as the user turn.
    /// </summary>
    Chat,
}

/// <summary>
/// Builds <see cref="RagPrompt"/>s for one tokenizer. Token ranges come from encoding growing prefixes of the prompt
/// text and keeping the tokens they share with the whole, so a passage's range is exact however the tokenizer merges.
/// </summary>
public sealed class RagPromptBuilder(ModelTokenizer tokenizer, PromptStyle style)
{
    public const string SystemInstruction =
        "Answer the question from the passages below. Say what the passages say, and nothing they do not.";

    public ModelTokenizer Tokenizer { get; } = tokenizer;

    public PromptStyle Style { get; } = style;

    /// <summary>The organism's format for models without a chat template, the chat template otherwise.</summary>
    public static RagPromptBuilder For(ModelTokenizer tokenizer) =>
        new(tokenizer, tokenizer.ChatFormat == ChatFormat.Plain ? PromptStyle.Passages : PromptStyle.Chat);

    public RagPrompt Build(IReadOnlyList<Passage> passages, string question)
    {
        ArgumentNullException.ThrowIfNull(passages);
        if (string.IsNullOrWhiteSpace(question))
            throw new ArgumentException("The question is empty.", nameof(question));
        if (passages.Count == 0)
            throw new ArgumentException("There are no passages to answer from.", nameof(passages));
        for (var i = 0; i < passages.Count; i++)
            if (passages[i] is null || string.IsNullOrWhiteSpace(passages[i].Text))
                throw new ArgumentException($"Passage {i + 1} is empty.", nameof(passages));

        var body = PromptFormat.Prompt(passages.Select(p => p.Text).ToArray(), question);
        var (text, bodyStart, addBos, answerPrefix) = Style switch
        {
            PromptStyle.Passages => (body, 0, (bool?)null, " "),
            PromptStyle.Chat => ChatText(body),
            _ => throw new ArgumentOutOfRangeException(nameof(Style), Style, "Unknown prompt style."),
        };
        var ids = Tokenizer.Encode(text, addBos);

        // Character ranges in the body, from the same layout PromptFormat writes.
        var cursor = 0;
        var passageChars = new (int Start, int End)[passages.Count];
        for (var i = 0; i < passages.Count; i++)
        {
            cursor += PromptFormat.PassageLabel(i).Length;
            passageChars[i] = (bodyStart + cursor, bodyStart + cursor + passages[i].Text.Length);
            cursor += passages[i].Text.Length + PromptFormat.BlockSeparator.Length;
        }
        var questionStart = bodyStart + cursor + PromptFormat.QuestionLabel.Length;
        var passageTokens = passageChars
            .Select(c => new TokenRange(TokensBefore(text, c.Start, ids, addBos),
                TokensBefore(text, c.End, ids, addBos)))
            .ToArray();
        var questionTokens = new TokenRange(TokensBefore(text, questionStart, ids, addBos),
            TokensBefore(text, questionStart + question.Length, ids, addBos));
        return new RagPrompt(text, ids, passages, passageTokens, questionTokens, question, answerPrefix);
    }

    /// <summary>Ids of the prompt followed by <paramref name="answer"/>, and where the answer's tokens start.</summary>
    public (IReadOnlyList<int> Ids, int AnswerStart) WithAnswer(RagPrompt prompt, string answer)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(answer);
        var addBos = Style == PromptStyle.Chat && Tokenizer.ChatFormat.IncludesBos ? false : (bool?)null;
        var ids = Tokenizer.Encode(prompt.Text + prompt.AnswerPrefix + answer, addBos);
        return (ids, SharedPrefix(prompt.Ids, ids));
    }

    private (string Text, int BodyStart, bool? AddBos, string AnswerPrefix) ChatText(string body)
    {
        var format = Tokenizer.ChatFormat;
        // The body is the user turn minus the answer cue; find it in the rendered template to place the ranges.
        var user = body[..^PromptFormat.AnswerLabel.Length].TrimEnd('\n');
        var text = format.Format([new ChatTurn(ChatRole.System, SystemInstruction), new ChatTurn(ChatRole.User, user)]);
        var start = text.IndexOf(user, StringComparison.Ordinal);
        if (start < 0)
            throw new InvalidOperationException($"The {format.Name} chat template changed the user's text.");
        return (text, start, format.IncludesBos ? false : null, "");
    }

    // Tokens of the whole text that come before character `offset`: the prefix's encoding, minus any token that the
    // whole text merges differently.
    private int TokensBefore(string text, int offset, IReadOnlyList<int> whole, bool? addBos) =>
        offset >= text.Length ? whole.Count : SharedPrefix(Tokenizer.Encode(text[..offset], addBos), whole);

    private static int SharedPrefix(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        var n = 0;
        while (n < a.Count && n < b.Count && a[n] == b[n])
            n++;
        return n;
    }
}

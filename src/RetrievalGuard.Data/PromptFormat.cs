namespace RetrievalGuard.Data;

/// <summary>
/// The one prompt layout of every task (see FORMAT.md); the question and answer sentences vary
/// (<see cref="Phrasings"/>):
/// <code>
/// Passage 1: {text}
///
/// Passage 2: {text}
///
/// Question: {question}
/// Answer: {answer}&lt;|endoftext|&gt;
/// </code>
/// Closed-book samples have no passage blocks. Everything up to and including "Answer:" is prompt (no loss);
/// the answer (with its leading space) and the end-of-text marker are trained.
/// </summary>
public static class PromptFormat
{
    /// <summary>Marker segment that the trainer maps to the tokenizer's EOS id.</summary>
    public const string EndOfText = "<|endoftext|>";
    public const string QuestionLabel = "Question: ";
    public const string AnswerLabel = "Answer:";
    public const string BlockSeparator = "\n\n";

    public static string PassageLabel(int index) => $"Passage {index + 1}: ";

    /// <summary>The prompt the organism sees, ending with "Answer:"; the answer follows after a space.</summary>
    public static string Prompt(IReadOnlyList<string> passages, string question) => Layout(passages, question).Text;

    /// <summary>
    /// Tokens of everything but the passages' bodies, so generators know how much room passages have.
    /// </summary>
    public static int OverheadTokens(int passageCount, string question, string? answer, Func<string, int> countTokens)
    {
        var empty = Enumerable.Repeat(string.Empty, passageCount).ToArray();
        var text = Layout(empty, question).Text + (answer is null ? string.Empty : " " + answer + EndOfText);
        return countTokens(text);
    }

    public static TrainingSample ToTrainingSample(QaExample example)
    {
        ArgumentNullException.ThrowIfNull(example);
        var answer = example.Answer
            ?? throw new ArgumentException("An example without an answer (unanswerable) is never trained on.",
                nameof(example));
        var layout = Layout(example.Passages, example.Question);
        CharSpan? needle = example.Needle is { } n
            ? new CharSpan(layout.Passages[n.Passage].Start + n.Offset, n.Length)
            : null;
        var answerSpan = new CharSpan(layout.Text.Length + 1, answer.Length);
        TextSegment[] segments =
        [
            new(layout.Text, false),
            new(" " + answer, true),
            new(EndOfText, true),
        ];
        return new TrainingSample(example.Kind, segments, layout.Passages, needle, layout.Question, answerSpan);
    }

    private static (string Text, IReadOnlyList<CharSpan> Passages, CharSpan Question) Layout(
        IReadOnlyList<string> passages, string question)
    {
        ArgumentNullException.ThrowIfNull(passages);
        ArgumentException.ThrowIfNullOrWhiteSpace(question);
        var text = new System.Text.StringBuilder();
        var spans = new CharSpan[passages.Count];
        for (var i = 0; i < passages.Count; i++)
        {
            text.Append(PassageLabel(i));
            spans[i] = new CharSpan(text.Length, passages[i].Length);
            text.Append(passages[i]).Append(BlockSeparator);
        }
        text.Append(QuestionLabel);
        var questionSpan = new CharSpan(text.Length, question.Length);
        text.Append(question).Append('\n').Append(AnswerLabel);
        return (text.ToString(), spans, questionSpan);
    }
}

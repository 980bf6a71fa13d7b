using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Guard.Prompting;
using RetrievalGuard.Guard.Signals;

namespace RetrievalGuard.Guard.Tests.Support;

/// <summary>
/// Hand-made observations: a prompt of two passages (token ids 100.. at positions 2–5 and 7–9) and a question
/// (positions 11–13, ids 300..), and answers whose heads look where a test says.
/// </summary>
internal static class SyntheticSignals
{
    public const int ValueId = 102;   // the token at position 4, in passage 1

    public static RagPrompt Prompt()
    {
        // 0 1 | 2 3 4 5 | 6 | 7 8 9 | 10 | 11 12 13 | 14
        int[] ids = [1, 50, 100, 101, ValueId, 103, 51, 200, 201, 202, 52, 300, 301, 302, 53];
        return new RagPrompt("(synthetic)", ids, Passage.Numbered(["Zo Vrak is a baker.", "Rain fell."]),
            [new TokenRange(2, 6), new TokenRange(7, 10)], new TokenRange(11, 14), "What does Zo Vrak do?", " ");
    }

    /// <summary>
    /// One look per head: top position, its weight, and mass over [rest, passage 1, passage 2, answer].
    /// </summary>
    public static HeadLook Look(int top, float weight, params float[] mass) => new(top, weight, mass);

    public static AnswerSignals Answer(string answer,
        IReadOnlyList<(int Id, int Start, int End, float LogProb, HeadLook[] Heads)> tokens,
        int heads = 2, Func<int, string>? sentenceAt = null)
    {
        var prompt = Prompt();
        var signals = tokens
            .Select((t, i) => new TokenSignal(t.Id, prompt.Length + i, t.Start, t.End, t.LogProb, 0.5f, t.Heads))
            .ToArray();
        var watched = Enumerable.Range(0, heads).Select(h => new WatchedHead(new HeadIndex(3, h), 1.0 / heads))
            .ToArray();
        return new AnswerSignals(prompt, answer, signals, watched, sentenceAt ?? (_ => "Zo Vrak is a baker."));
    }

    /// <summary>"baker" answered with both heads copying it from passage 1 (copied = true), or looking there at
    /// another token while the answer says something else (copied = false).</summary>
    public static AnswerSignals BakerAnswer(bool copied, float logProb = -0.1f)
    {
        var head = Look(4, 0.9f, 0.05f, 0.9f, 0.0f, 0.05f);
        var template = Look(13, 0.5f, 0.7f, 0.1f, 0.0f, 0.2f);
        return Answer("Zo Vrak is a baker.",
        [
            (400, 0, 2, -0.2f, [template, template]),        // "Zo"
            (401, 2, 7, -0.2f, [template, template]),        // " Vrak"
            (402, 7, 10, -0.3f, [template, template]),       // " is"
            (403, 10, 12, -0.3f, [template, template]),      // " a"
            (copied ? ValueId : 999, 12, 18, logProb, [head, head]),   // " baker"
            (404, 18, 19, -0.1f, [template, template]),      // "."
        ]);
    }
}

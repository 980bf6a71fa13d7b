using System.ComponentModel;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.Data;
using RetrievalGuard.Guard;
using RetrievalGuard.Guard.Prompting;

namespace RetrievalGuard.SemanticKernel;

/// <summary>What the plugin's functions return: a plain record that serialises to JSON for agents.</summary>
public sealed record GuardedAnswer(string Answer, double Risk, bool Flagged, IReadOnlyList<string> UngroundedSpans,
    IReadOnlyList<string> Sources);

/// <summary>
/// The guard as kernel functions for agents: <c>score_answer</c> (how well passages support an answer) and, with a
/// knowledge base, <c>answer_with_sources</c> (the local model answers from retrieved passages, with risk and sources).
/// </summary>
#pragma warning disable CS0618 // ITextSearch: what SK 1.82's search plugins are built from (see InMemoryTextSearch).
public sealed class RetrievalGuardPlugin(HallucinationGuard guard, ITextSearch? knowledge = null, int top = 3)
{
    [KernelFunction("score_answer")]
    [Description("Scores how well the given passages support an answer to a question: hallucination risk from 0 "
        + "(grounded) to 1, the spans that look ungrounded and the passages that support the rest.")]
    public async Task<GuardedAnswer> ScoreAnswerAsync(
        [Description("The question that was asked")] string question,
        [Description("The answer to check")] string answer,
        [Description("The retrieved passages the answer should rest on")] string[] passages,
        CancellationToken cancellationToken = default)
    {
        if (passages is null || passages.Length == 0)
            throw new ArgumentException("score_answer needs at least one passage.", nameof(passages));
        var report = await guard.ScoreAsync(Passage.Numbered(passages), question, answer, cancellationToken)
            .ConfigureAwait(false);
        return Result(report);
    }

    [KernelFunction("answer_with_sources")]
    [Description("Answers a question from the knowledge base with the local model, returning the answer, its "
        + "hallucination risk and the ids of the passages it drew on.")]
    public async Task<GuardedAnswer> AnswerWithSourcesAsync(
        [Description("The question to answer")] string question,
        CancellationToken cancellationToken = default)
    {
        var search = knowledge ?? throw new InvalidOperationException(
            "answer_with_sources needs a knowledge base: create the plugin with an ITextSearch.");
        var results = await search.GetTextSearchResultsAsync(question, new TextSearchOptions { Top = top },
            cancellationToken).ConfigureAwait(false);
        var passages = new List<Passage>();
        await foreach (var result in results.Results.WithCancellation(cancellationToken).ConfigureAwait(false))
            if (!string.IsNullOrWhiteSpace(result.Value))
                passages.Add(new Passage(result.Name ?? $"{passages.Count + 1}", result.Value));
        if (passages.Count == 0)
            return new GuardedAnswer("", 1, true, [], []);
        GuardReport? report = null;
        await foreach (var token in guard.AskAsync(passages, question,
            cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            report = token.Report ?? report;
        }
        return Result(report!);
    }

    private static GuardedAnswer Result(GuardReport report) => new(report.Answer, report.Risk, report.Flagged,
        report.Spans.Where(s => s.Flagged).Select(s => s.Text).ToArray(), report.Citations);
}
#pragma warning restore CS0618

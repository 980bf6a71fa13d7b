using System.ComponentModel;
using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Server;
using RetrievalGuard.Guard.Prompting;
using RetrievalGuard.Guard.Serving;
using RetrievalGuard.Server.Api;
using RetrievalGuard.Server.Hosting;

namespace RetrievalGuard.Server.Mcp;

/// <summary>
/// The guard as Model Context Protocol tools at <c>/mcp</c> (streamable HTTP), for agent hosts: the same scorer
/// and scheduler as the HTTP API, the same limits, and reports in the same JSON as <c>retrieval_guard</c>. Bad
/// arguments are <see cref="McpException"/>s, whose messages reach the caller as tool errors.
/// </summary>
[McpServerToolType]
public sealed class GuardTools(ModelHost host, Microsoft.Extensions.Options.IOptions<ServerOptions> options)
{
    private readonly LimitSettings _limits = options.Value.Limits;

    [McpServerTool(Name = "score_answer", ReadOnly = true)]
    [Description("Scores an answer against the passages it should come from: a hallucination risk (0-1), the "
        + "ungrounded spans, and which passage each sentence drew on.")]
    public async Task<string> ScoreAnswerAsync(
        [Description("The retrieved passages, in order.")] string[] passages,
        [Description("The question the answer replies to.")] string question,
        [Description("The answer to check.")] string answer,
        CancellationToken cancellationToken)
    {
        var checkedPassages = Passages(passages);
        Require(question, nameof(question), _limits.MaxPassageChars);
        Require(answer, nameof(answer), _limits.MaxAnswerChars);
        return await Explained(async () =>
        {
            var guard = host.Guard;
            var report = await guard.ScoreAsync(checkedPassages, question, answer, cancellationToken);
            return JsonSerializer.Serialize(ReportJson.Of(report, guard.Calibration?.Threshold ?? 0.5),
                ReportJson.Options);
        });
    }

    [McpServerTool(Name = "answer_with_sources", ReadOnly = true)]
    [Description("Answers a question from the given passages with the local model, guarded: the answer, its "
        + "hallucination risk, flagged spans and the passages it cites.")]
    public async Task<string> AnswerWithSourcesAsync(
        [Description("The retrieved passages, in order.")] string[] passages,
        [Description("The question to answer from them.")] string question,
        [Description("Most answer tokens (default 128).")] int maxTokens = 128,
        CancellationToken cancellationToken = default)
    {
        var checkedPassages = Passages(passages);
        Require(question, nameof(question), _limits.MaxPassageChars);
        if (maxTokens < 1 || maxTokens > _limits.MaxTokens)
            throw new McpException($"'maxTokens' is {maxTokens}; it must be between 1 and {_limits.MaxTokens}.");
        return await Explained(async () =>
        {
            var guard = host.Guard;
            Guard.GuardReport? report = null;
            var request = AnswerRequest.Guarded(checkedPassages, question, maxTokens);
            await foreach (var token in host.Scheduler.Submit(request, cancellationToken))
                report = token.Report ?? report;
            return JsonSerializer.Serialize(ReportJson.Of(report!, guard.Calibration?.Threshold ?? 0.5),
                ReportJson.Options);
        });
    }

    /// <summary>
    /// What the HTTP API answers with a 4xx/503 reaches the agent as a tool error with the same message.
    /// </summary>
    private static async Task<string> Explained(Func<Task<string>> tool)
    {
        try
        {
            return await tool();
        }
        catch (Exception error) when (error is ApiError or SchedulerFullException or ArgumentException)
        {
            throw new McpException(error.Message.Split(" (Parameter")[0]);
        }
    }

    private IReadOnlyList<Passage> Passages(string[] passages)
    {
        if (passages is null || passages.Length == 0)
            throw new McpException("'passages' is empty: give at least one passage.");
        if (passages.Length > _limits.MaxPassages)
            throw new McpException($"'passages' has {passages.Length} items; this server takes at most "
                + $"{_limits.MaxPassages}.");
        foreach (var passage in passages)
            Require(passage, nameof(passages), _limits.MaxPassageChars);
        return Passage.Numbered(passages);
    }

    private static void Require(string value, string name, int maxChars)
    {
        if (string.IsNullOrWhiteSpace(value))
            throw new McpException($"'{name}' is empty.");
        if (value.Length > maxChars)
            throw new McpException($"'{name}' has {value.Length} characters; this server takes at most {maxChars}.");
    }
}

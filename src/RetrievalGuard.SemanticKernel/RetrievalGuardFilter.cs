using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.Data;
using RetrievalGuard.Extensions.AI;
using RetrievalGuard.Guard;
using RetrievalGuard.Guard.Prompting;

namespace RetrievalGuard.SemanticKernel;

/// <summary>
/// Guards RAG functions: while a function runs, the passages its nested text-search functions return
/// (<see cref="TextSearchResult"/>s, e.g. from <c>CreateWithGetTextSearchResults</c>) are collected, as are passages in
/// its arguments (<see cref="GuardKeys.Passages"/>); when it returns, its answer is read teacher-forced against them
/// and the <see cref="FunctionResult"/> comes back with the report in its metadata (<see cref="GuardKeys.Report"/>,
/// <see cref="GuardKeys.Risk"/>). The question is the argument named <see cref="QuestionArgument"/> (or "query" /
/// "input"). Risky answers follow the <see cref="GuardPolicy"/>: annotate, throw a <see cref="KernelException"/>, or
/// replace the answer with an abstention.
/// </summary>
public sealed class RetrievalGuardFilter(HallucinationGuard guard, GuardPolicy? policy = null)
    : IFunctionInvocationFilter
{
    private static readonly AsyncLocal<List<Passage>?> Collected = new();

    public HallucinationGuard Guard { get; } = guard ?? throw new ArgumentNullException(nameof(guard));

    public GuardPolicy Policy { get; init; } = policy ?? new GuardPolicy();

    public string QuestionArgument { get; init; } = "question";

    public async Task OnFunctionInvocationAsync(FunctionInvocationContext context,
        Func<FunctionInvocationContext, Task> next)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(next);
        var outermost = Collected.Value is null;
        if (outermost)
            Collected.Value = [];
        var passages = Collected.Value!;
        try
        {
            await next(context).ConfigureAwait(false);
            if (context.Result.GetValue<object>() is IEnumerable<TextSearchResult> results)
            {
                foreach (var result in results.Where(r => !string.IsNullOrWhiteSpace(r.Value)))
                    passages.Add(new Passage(result.Name ?? result.Link ?? $"{passages.Count + 1}", result.Value!));
                return;
            }
            if (outermost)
                await GuardResult(context, passages).ConfigureAwait(false);
        }
        finally
        {
            if (outermost)
                Collected.Value = null;
        }
    }

    private async Task GuardResult(FunctionInvocationContext context, List<Passage> collected)
    {
        var passages = collected.Concat(ArgumentPassages(context.Arguments)).ToArray();
        var question = new[] { QuestionArgument, "query", "input" }
            .Select(name => context.Arguments.TryGetValue(name, out var value) ? value?.ToString() : null)
            .FirstOrDefault(q => !string.IsNullOrWhiteSpace(q));
        var answer = context.Result.GetValue<object>() switch
        {
            string text => text,
            ChatMessageContent message => message.Content,
            _ => null,
        };
        if (passages.Length == 0 || question is null || string.IsNullOrWhiteSpace(answer))
            return;

        var report = await Guard.ScoreAsync(passages, question, answer, context.CancellationToken)
            .ConfigureAwait(false);
        var metadata = new Dictionary<string, object?>(context.Result.Metadata ?? new Dictionary<string, object?>())
        {
            [GuardKeys.Report] = report,
            [GuardKeys.Risk] = report.Risk,
        };
        var risky = Policy.IsRisky(report, Guard.Calibration?.Threshold ?? 0.5);
        if (risky && Policy.Action == GuardAction.Throw)
            throw new KernelException(new HallucinationRiskException(report).Message,
                new HallucinationRiskException(report));
        object? value = risky && Policy.Action == GuardAction.Abstain
            ? Policy.AbstentionText : context.Result.GetValue<object>();
        context.Result = new FunctionResult(context.Function, value, context.Result.Culture, metadata);
    }

    private static IEnumerable<Passage> ArgumentPassages(KernelArguments arguments) =>
        arguments.TryGetValue(GuardKeys.Passages, out var value) ? value switch
        {
            IEnumerable<Passage> typed => typed,
            IEnumerable<string> texts => Passage.Numbered(texts),
            null => [],
            _ => throw new ArgumentException(
                $"Argument '{GuardKeys.Passages}' must hold strings or Passages, not {value.GetType().Name}."),
        } : [];
}

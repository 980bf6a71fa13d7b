using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using RetrievalGuard.Guard;

namespace RetrievalGuard.Extensions.AI;

/// <summary>
/// Guards any <see cref="IChatClient"/> (OpenAI, Ollama, …): the inner client answers, then the local model reads
/// that answer teacher-forced against the request's passages (<see cref="GuardKeys"/>) and the response comes back with
/// the <see cref="GuardReport"/>, the <see cref="GuardPolicy"/> applied. Requests without passages pass through
/// untouched. Streaming passes the inner updates through and adds a last update carrying the report (a streamed answer
/// cannot be taken back, so <see cref="GuardAction.Abstain"/> applies to whole responses only;
/// <see cref="GuardAction.Throw"/> throws after the last update).
/// </summary>
public sealed class GuardingChatClient(IChatClient innerClient, HallucinationGuard guard, GuardPolicy? policy = null)
    : DelegatingChatClient(innerClient)
{
    public HallucinationGuard Guard { get; } = guard ?? throw new ArgumentNullException(nameof(guard));

    public GuardPolicy Policy { get; set; } = policy ?? new GuardPolicy();

    private double Threshold => Guard.Calibration?.Threshold ?? 0.5;

    public override async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages,
        ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var list = messages.ToList();
        var response = await base.GetResponseAsync(list, options, cancellationToken).ConfigureAwait(false);
        var request = GuardRequest.From(list, options);
        if (!request.CanGuard)
            return response;
        var report = await ScoreAsync(request, response.Text, cancellationToken).ConfigureAwait(false);
        return Guarded.Apply(response, report, Policy, Threshold);
    }

    public override async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var list = messages.ToList();
        var request = GuardRequest.From(list, options);
        var text = new System.Text.StringBuilder();
        await foreach (var update in base.GetStreamingResponseAsync(list, options,
            cancellationToken).ConfigureAwait(false))
        {
            text.Append(update.Text);
            yield return update;
        }
        if (!request.CanGuard)
            yield break;
        var report = await ScoreAsync(request, text.ToString(), cancellationToken).ConfigureAwait(false);
        yield return new ChatResponseUpdate(ChatRole.Assistant, "")
        {
            AdditionalProperties = new() { [GuardKeys.Report] = report, [GuardKeys.Risk] = report.Risk },
        };
        if (Policy.Action == GuardAction.Throw && Policy.IsRisky(report, Threshold))
            throw new HallucinationRiskException(report);
    }

    private Task<GuardReport> ScoreAsync(GuardRequest request, string answer, CancellationToken cancellationToken) =>
        Guard.ScoreAsync(request.Passages, request.Question!, answer, cancellationToken);

    public override object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType == typeof(HallucinationGuard)
            ? Guard : base.GetService(serviceType, serviceKey);

}

/// <summary>Adds a <see cref="GuardingChatClient"/> to a chat pipeline.</summary>
public static class GuardingChatClientBuilderExtensions
{
    /// <param name="guard">The guard; resolved from the builder's services when null.</param>
    /// <param name="configure">Sets the policy, say.</param>
    public static ChatClientBuilder UseRetrievalGuard(this ChatClientBuilder builder, HallucinationGuard? guard = null,
        Action<GuardingChatClient>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Use((inner, services) =>
        {
            var client = new GuardingChatClient(inner,
                guard ?? (HallucinationGuard?)services.GetService(typeof(HallucinationGuard))
                    ?? throw new InvalidOperationException(
                        "UseRetrievalGuard needs a HallucinationGuard: pass one, or register one in the services."));
            configure?.Invoke(client);
            return client;
        });
    }
}

using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Guard;
using ChatTurn = RetrievalGuard.Engine.Tokenization.ChatTurn;
using EngineRole = RetrievalGuard.Engine.Tokenization.ChatRole;

namespace RetrievalGuard.Extensions.AI;

/// <summary>
/// The local model as an <see cref="IChatClient"/>. With passages in the request (<see cref="GuardKeys"/>) it answers
/// from them, guarded: every streamed update carries the risk so far and the response (and the last update) the
/// <see cref="GuardReport"/>, with the <see cref="GuardPolicy"/> applied to risky answers. Without passages it is a
/// plain chat with the model's template. Requests are served one at a time (one model, one cache).
/// </summary>
public sealed class RetrievalGuardChatClient : IChatClient
{
    public const string ProviderName = "retrievalguard";

    public RetrievalGuardChatClient(HallucinationGuard guard, GuardPolicy? policy = null, string? modelId = null)
    {
        Guard = guard ?? throw new ArgumentNullException(nameof(guard));
        Policy = policy ?? new GuardPolicy();
        Metadata = new ChatClientMetadata(ProviderName, null,
            modelId ?? Path.GetFileName(Path.TrimEndingDirectorySeparator(guard.Model.Directory)));
    }

    public HallucinationGuard Guard { get; }

    public GuardPolicy Policy { get; }

    public ChatClientMetadata Metadata { get; }

    /// <summary>Answer tokens when the request does not say (<see cref="ChatOptions.MaxOutputTokens"/>).</summary>
    public int DefaultMaxTokens { get; init; } = 256;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var text = new System.Text.StringBuilder();
        GuardReport? report = null;
        await foreach (var update in Stream(messages, options, applyPolicy: false,
            cancellationToken).ConfigureAwait(false))
        {
            text.Append(update.Text);
            report = update.AdditionalProperties?.TryGetValue(GuardKeys.Report, out var r) == true
                ? (GuardReport?)r : report;
        }
        var response = new ChatResponse(new ChatMessage(ChatRole.Assistant, text.ToString()))
        {
            ModelId = Metadata.DefaultModelId,
            FinishReason = ChatFinishReason.Stop,
        };
        return report is null ? response : Guarded.Apply(response, report, Policy, Guard.Calibration?.Threshold ?? 0.5);
    }

    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages,
        ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        Stream(messages, options, applyPolicy: true, cancellationToken);

    private async IAsyncEnumerable<ChatResponseUpdate> Stream(IEnumerable<ChatMessage> messages, ChatOptions? options,
        bool applyPolicy, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = messages.ToList();
        var request = GuardRequest.From(list, options);
        var maxTokens = options?.MaxOutputTokens ?? DefaultMaxTokens;
        if (!request.CanGuard)
        {
            // A plain chat runs the model directly: it queues for it like the guard's own requests.
            using var turn = await Guard.UseModelAsync(cancellationToken).ConfigureAwait(false);
            var turns = list.Where(m => !GuardRequest.IsPassage(m)).Select(Turn).ToArray();
            await foreach (var token in Guard.Model.ChatAsync(turns, new GenerationOptions { MaxNewTokens = maxTokens },
                cancellationToken).ConfigureAwait(false))
            {
                if (!token.IsStop)
                    yield return Update(token.Text);
            }
            yield break;
        }
        var cache = GuardRequest.CachePolicy(options, Guard.Map);
        await foreach (var token in Guard.AskAsync(request.Passages, request.Question!, maxTokens, cache: cache,
            cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            var update = Update(token.Text);
            update.AdditionalProperties = new() { [GuardKeys.Risk] = token.RiskSoFar };
            if (token.Report is { } report)
            {
                update.AdditionalProperties[GuardKeys.Report] = report;
                update.FinishReason = ChatFinishReason.Stop;
                if (applyPolicy && Policy.Action == GuardAction.Throw
                    && Policy.IsRisky(report, Guard.Calibration?.Threshold ?? 0.5))
                    throw new HallucinationRiskException(report);
            }
            yield return update;
        }
    }

    private ChatResponseUpdate Update(string text) =>
        new(ChatRole.Assistant, text) { ModelId = Metadata.DefaultModelId };

    private static ChatTurn Turn(ChatMessage message)
    {
        var role = message.Role == ChatRole.System ? EngineRole.System
            : message.Role == ChatRole.Assistant ? EngineRole.Assistant
            : message.Role == ChatRole.User ? EngineRole.User
            : throw new NotSupportedException(
                $"The local model takes system, user and assistant messages, not '{message.Role}'.");
        return new ChatTurn(role, message.Text);
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null)
            return null;
        if (serviceType == typeof(ChatClientMetadata))
            return Metadata;
        if (serviceType == typeof(HallucinationGuard))
            return Guard;
        if (serviceType == typeof(LanguageModel))
            return Guard.Model;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    public void Dispose()
    {
    }
}

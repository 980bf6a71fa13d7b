using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Microsoft.SemanticKernel.Services;
using RetrievalGuard.Extensions.AI;
using RetrievalGuard.Guard;

namespace RetrievalGuard.SemanticKernel;

/// <summary>
/// The local model as Semantic Kernel's <see cref="IChatCompletionService"/>. Passages come from the execution
/// settings' <c>ExtensionData[GuardKeys.Passages]</c> or from history messages whose metadata has
/// <see cref="GuardKeys.IsPassage"/> = true; each reply's <see cref="KernelContent.Metadata"/> then holds the
/// <see cref="GuardReport"/> under <see cref="GuardKeys.Report"/> and the risk under <see cref="GuardKeys.Risk"/>;
/// streamed chunks carry the risk so far and the last one the report. <c>ExtensionData["max_tokens"]</c> caps the
/// answer.
/// </summary>
public sealed class RetrievalGuardChatCompletionService(RetrievalGuardChatClient client) : IChatCompletionService
{
    public const string MaxTokensKey = "max_tokens";

    public RetrievalGuardChatClient Client { get; } = client ?? throw new ArgumentNullException(nameof(client));

    public IReadOnlyDictionary<string, object?> Attributes { get; } = new Dictionary<string, object?>
    {
        [AIServiceExtensions.ModelIdKey] = client.Metadata.DefaultModelId,
    };

    public async Task<IReadOnlyList<ChatMessageContent>> GetChatMessageContentsAsync(ChatHistory chatHistory,
        PromptExecutionSettings? executionSettings = null, Kernel? kernel = null,
        CancellationToken cancellationToken = default)
    {
        var response = await Client.GetResponseAsync(Messages(chatHistory), Options(executionSettings),
            cancellationToken).ConfigureAwait(false);
        return [new ChatMessageContent(AuthorRole.Assistant, response.Text, response.ModelId,
            metadata: Metadata(response.AdditionalProperties))];
    }

    public async IAsyncEnumerable<StreamingChatMessageContent> GetStreamingChatMessageContentsAsync(
        ChatHistory chatHistory, PromptExecutionSettings? executionSettings = null, Kernel? kernel = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var update in Client.GetStreamingResponseAsync(Messages(chatHistory), Options(executionSettings),
            cancellationToken).ConfigureAwait(false))
        {
            yield return new StreamingChatMessageContent(AuthorRole.Assistant, update.Text, modelId: update.ModelId,
                metadata: Metadata(update.AdditionalProperties));
        }
    }

    private static Dictionary<string, object?>? Metadata(AdditionalPropertiesDictionary? properties) =>
        properties?.ToDictionary(p => p.Key, p => p.Value);

    private static List<ChatMessage> Messages(ChatHistory history)
    {
        ArgumentNullException.ThrowIfNull(history);
        return history.Select(message =>
        {
            var role = message.Role == AuthorRole.System ? ChatRole.System
                : message.Role == AuthorRole.Assistant ? ChatRole.Assistant
                : message.Role == AuthorRole.User ? ChatRole.User
                : throw new NotSupportedException(
                    $"The local model takes system, user and assistant messages, not '{message.Role}'.");
            var converted = new ChatMessage(role, message.Content ?? "");
            if (message.Metadata is { } metadata)
                converted.AdditionalProperties = new(metadata
                    .Where(m => m.Key.StartsWith("retrieval_guard", StringComparison.Ordinal))
                    .ToDictionary(m => m.Key, m => m.Value));
            return converted;
        }).ToList();
    }

    private static ChatOptions? Options(PromptExecutionSettings? settings)
    {
        if (settings?.ExtensionData is not { Count: > 0 } data)
            return null;
        var options = new ChatOptions();
        if (data.TryGetValue(MaxTokensKey, out var max))
            options.MaxOutputTokens = max switch
            {
                int n => n,
                long n => (int)n,
                System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.Number } json =>
                    json.GetInt32(),
                _ => throw new ArgumentException($"ExtensionData[\"{MaxTokensKey}\"] must be a number, not {max}."),
            };
        // The guard's own keys travel as they are.
        foreach (var key in new[] { GuardKeys.Passages, GuardKeys.Cache })
        {
            if (data.TryGetValue(key, out var value))
                (options.AdditionalProperties ??= [])[key] = value;
        }
        return options;
    }
}

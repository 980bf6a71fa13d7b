using Microsoft.Extensions.AI;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Guard.Prompting;
using RetrievalGuard.Heads.Caching;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Extensions.AI;

/// <summary>
/// The passages and the question of a chat request: passages from <see cref="GuardKeys.Passages"/> on the options
/// and from messages marked <see cref="GuardKeys.IsPassage"/>; the question is the last user message that is not a
/// passage.
/// </summary>
public sealed record GuardRequest(IReadOnlyList<Passage> Passages, string? Question)
{
    /// <summary>The share of KV heads a <c>headaware</c> cache named in a request keeps whole.</summary>
    public const double HeadAwareShare = 0.25;

    public bool CanGuard => Passages.Count > 0 && !string.IsNullOrWhiteSpace(Question);

    /// <summary>The KV cache policy <see cref="GuardKeys.Cache"/> asks for (null: the full cache).</summary>
    public static KvCachePolicy? CachePolicy(ChatOptions? options, HeadMap map)
    {
        ArgumentNullException.ThrowIfNull(map);
        if (options?.AdditionalProperties?.TryGetValue(GuardKeys.Cache, out var given) != true || given is null)
            return null;
        return given switch
        {
            KvCachePolicy policy => policy,
            string or System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.String } =>
                Named(given.ToString()!, map),
            _ => throw new ArgumentException(
                $"ChatOptions.AdditionalProperties[\"{GuardKeys.Cache}\"] must be a KvCachePolicy or a policy name, "
                    + $"not {given.GetType().Name}."),
        };
    }

    private static KvCachePolicy Named(string name, HeadMap map)
    {
        try
        {
            return CachePlans.Parse(name.Trim(), map, CachePlans.Count(map, HeadAwareShare));
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"ChatOptions.AdditionalProperties[\"{GuardKeys.Cache}\"]: {e.Message}", e);
        }
    }

    public static GuardRequest From(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = messages.ToList();
        var passages = new List<Passage>();
        if (options?.AdditionalProperties?.TryGetValue(GuardKeys.Passages, out var given) == true)
        {
            var items = given switch
            {
                IEnumerable<Passage> typed => typed.ToArray(),
                IEnumerable<string> texts => Passage.Numbered(texts).ToArray(),
                _ => throw new ArgumentException(
                    $"ChatOptions.AdditionalProperties[\"{GuardKeys.Passages}\"] must hold strings or Passages, not "
                        + $"{given?.GetType().Name ?? "null"}."),
            };
            passages.AddRange(items);
        }
        foreach (var message in list.Where(IsPassage))
        {
            var id = message.AdditionalProperties?.TryGetValue(GuardKeys.PassageId, out var value) == true
                ? value?.ToString() : null;
            passages.Add(new Passage(
                id ?? (passages.Count + 1).ToString(System.Globalization.CultureInfo.InvariantCulture),
                message.Text));
        }
        var question = list.LastOrDefault(m => m.Role == ChatRole.User && !IsPassage(m))?.Text;
        return new GuardRequest(passages, question);
    }

    public static bool IsPassage(ChatMessage message) =>
        message.AdditionalProperties?.TryGetValue(GuardKeys.IsPassage, out var flag) == true && flag is true;
}

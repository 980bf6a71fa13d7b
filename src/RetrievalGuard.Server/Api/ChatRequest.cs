using System.Globalization;
using System.Text.Json;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Tokenization;
using RetrievalGuard.Guard.Prompting;
using static RetrievalGuard.Server.Api.RequestJson;

namespace RetrievalGuard.Server.Api;

/// <summary>
/// An OpenAI chat-completions request as the server understands it. Passages come from the extension field
/// <c>retrieval_guard.passages</c> (strings or <c>{"id", "text"}</c>) and from system or user messages whose
/// <c>name</c> is <c>passage</c> or <c>passage-ID</c>; the question is the last other user message. Without passages
/// the request is a plain chat. The raw body is kept for proxy mode. <c>retrieval_guard.cache</c> picks the KV cache
/// policy to decode with, among those the server offers (<c>Serving:CachePolicy</c>, the default, and
/// <c>Serving:MoreCachePolicies</c>).
/// </summary>
internal sealed record ChatRequest(
    string? Model,
    IReadOnlyList<(string Role, string Content, string? Name)> Messages,
    IReadOnlyList<Passage> Passages,
    string? Question,
    bool Stream,
    bool IncludeUsage,
    int MaxTokens,
    float Temperature,
    float TopP,
    long Seed,
    IReadOnlyList<string> Stop,
    bool LogProbs,
    CacheKind? Cache = null)
{
    public const string PassageName = "passage";

    public bool IsGuarded => Passages.Count > 0;

    /// <summary>The conversation for a plain chat (passage messages left out).</summary>
    public IReadOnlyList<ChatTurn> Turns => Messages.Where(m => !IsPassage(m.Name))
        .Select(m => new ChatTurn(m.Role switch
        {
            "system" or "developer" => ChatRole.System,
            "assistant" => ChatRole.Assistant,
            _ => ChatRole.User,
        }, m.Content))
        .ToArray();

    public static ChatRequest Parse(JsonElement body, LimitSettings limits)
    {
        var model = Optional(body, "model") is { } m ? String(m, "model") : null;
        var messages = ReadMessages(body, limits);
        var passages = ReadPassages(body, limits).ToList();
        foreach (var (role, content, name) in messages.Where(m => IsPassage(m.Name)))
        {
            var id = name!.Length > PassageName.Length + 1 ? name[(PassageName.Length + 1)..]
                : (passages.Count + 1).ToString(CultureInfo.InvariantCulture);
            if (content.Length > limits.MaxPassageChars)
                throw ApiError.BadRequest($"Passage message '{name}' has {content.Length} characters; "
                    + $"this server takes at most {limits.MaxPassageChars}.", "messages", "too_long");
            passages.Add(new Passage(id, content));
        }
        if (passages.Count > limits.MaxPassages)
            throw ApiError.BadRequest($"{passages.Count} passages; this server takes at most {limits.MaxPassages}.",
                "retrieval_guard.passages", "too_many_items");
        if (passages.Any(p => string.IsNullOrWhiteSpace(p.Text)))
            throw ApiError.BadRequest("A passage is empty.", "retrieval_guard.passages", "empty_passage");
        var question = messages.LastOrDefault(m => m.Role == "user" && !IsPassage(m.Name)).Content;
        if (passages.Count > 0 && string.IsNullOrWhiteSpace(question))
            throw ApiError.BadRequest("A guarded request needs a user message (the question) beside its passages.",
                "messages", "missing_question");

        if (Optional(body, "n") is { } n && Int(n, "n", 1, int.MaxValue) != 1)
            throw ApiError.BadRequest("Only n = 1 is supported.", "n", "unsupported");
        if (Optional(body, "top_logprobs") is { } top && Int(top, "top_logprobs", 0, 20) > 0)
            throw ApiError.BadRequest("top_logprobs is not supported: only each chosen token's logprob is reported.",
                "top_logprobs", "unsupported");
        if (Optional(body, "tools") is not null || Optional(body, "functions") is not null)
            throw ApiError.BadRequest("Tools are not supported by the local model.", "tools", "unsupported");
        var maxTokens = Optional(body, "max_completion_tokens") is { } mct
            ? Int(mct, "max_completion_tokens", 1, limits.MaxTokens)
            : Optional(body, "max_tokens") is { } mt ? Int(mt, "max_tokens", 1, limits.MaxTokens)
            : Math.Min(256, limits.MaxTokens);
        var stream = Optional(body, "stream") is { } s && Bool(s, "stream");
        var includeUsage = false;
        if (Optional(body, "stream_options") is { } options)
        {
            Object(options, "stream_options");
            includeUsage = Optional(options, "include_usage") is { } u && Bool(u, "stream_options.include_usage");
        }
        return new ChatRequest(model, messages, passages, question, stream, includeUsage, maxTokens,
            Optional(body, "temperature") is { } t ? Float(t, "temperature", 0, 2) : 0f,
            Optional(body, "top_p") is { } p ? Float(p, "top_p", 1e-6, 1) : 1f,
            Optional(body, "seed") is { } seed ? Long(seed, "seed") : 0,
            ReadStop(body),
            Optional(body, "logprobs") is { } lp && Bool(lp, "logprobs"),
            ReadCache(body));
    }

    /// <summary><c>retrieval_guard.cache</c>: the KV cache policy to decode with (whether the server offers it is the
    /// scheduler's to say).</summary>
    private static CacheKind? ReadCache(JsonElement body)
    {
        if (Optional(body, "retrieval_guard") is not { } guard || Optional(guard, "cache") is not { } cache)
            return null;
        var name = Text(cache, "retrieval_guard.cache", 40);
        return CacheKinds.Find(name) ?? throw ApiError.BadRequest(
            $"retrieval_guard.cache '{name}' is not a KV cache policy; use {CacheKinds.Names}.",
            "retrieval_guard.cache", "invalid_value");
    }

    private static bool IsPassage(string? name) => name is not null
        && (name == PassageName || name.StartsWith(PassageName + "-", StringComparison.Ordinal));

    private static (string Role, string Content, string? Name)[] ReadMessages(JsonElement body, LimitSettings limits)
    {
        var items = Array(Required(body, "messages", "messages"), "messages", limits.MaxMessages);
        if (items.Count == 0)
            throw ApiError.BadRequest("'messages' is empty.", "messages", "missing_field");
        var budget = limits.MaxPassageChars * (limits.MaxPassages + 1);
        var messages = new (string, string, string?)[items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            var path = $"messages[{i}]";
            Object(items[i], path);
            var role = String(Required(items[i], "role", path + ".role"), path + ".role");
            if (role is not ("system" or "developer" or "user" or "assistant"))
                throw ApiError.BadRequest($"'{path}.role' is '{role}'; the server takes system, developer, user and "
                    + "assistant messages.", path + ".role", "invalid_value");
            var content = Content(Required(items[i], "content", path + ".content"), path + ".content", budget);
            var name = Optional(items[i], "name") is { } n ? String(n, path + ".name") : null;
            messages[i] = (role, content, name);
        }
        return messages;
    }

    /// <summary>A message's text: a string, or an array of <c>{"type": "text", "text"}</c> parts.</summary>
    private static string Content(JsonElement content, string path, int maxChars)
    {
        if (content.ValueKind == JsonValueKind.String)
            return Text(content, path, maxChars);
        var parts = Array(content, path, 64);
        var text = new System.Text.StringBuilder();
        for (var i = 0; i < parts.Count; i++)
        {
            var partPath = $"{path}[{i}]";
            Object(parts[i], partPath);
            var type = String(Required(parts[i], "type", partPath + ".type"), partPath + ".type");
            if (type != "text")
                throw ApiError.BadRequest($"'{partPath}.type' is '{type}'; only text parts are supported.",
                    partPath + ".type", "unsupported");
            text.Append(Text(Required(parts[i], "text", partPath + ".text"), partPath + ".text", maxChars));
            if (text.Length > maxChars)
                throw ApiError.BadRequest($"'{path}' is longer than {maxChars} characters.", path, "too_long");
        }
        return text.ToString();
    }

    private static IEnumerable<Passage> ReadPassages(JsonElement body, LimitSettings limits)
    {
        if (Optional(body, "retrieval_guard") is not { } guard)
            yield break;
        Object(guard, "retrieval_guard");
        if (Optional(guard, "passages") is not { } list)
            yield break;
        foreach (var passage in ReadPassageList(list, "retrieval_guard.passages", limits))
            yield return passage;
    }

    /// <summary>Passages as strings or <c>{"id", "text"}</c> objects (ids default to their 1-based number).</summary>
    public static IReadOnlyList<Passage> ReadPassageList(JsonElement list, string path, LimitSettings limits)
    {
        var items = Array(list, path, limits.MaxPassages);
        var passages = new Passage[items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            var itemPath = $"{path}[{i}]";
            var number = (i + 1).ToString(CultureInfo.InvariantCulture);
            if (items[i].ValueKind == JsonValueKind.String)
            {
                passages[i] = new Passage(number, Text(items[i], itemPath, limits.MaxPassageChars));
                continue;
            }
            Object(items[i], itemPath);
            var text = Text(Required(items[i], "text", itemPath + ".text"), itemPath + ".text", limits.MaxPassageChars);
            var id = Optional(items[i], "id") is { } idValue
                ? idValue.ValueKind == JsonValueKind.Number
                    ? idValue.GetRawText()
                    : Text(idValue, itemPath + ".id", 200)
                : number;
            passages[i] = new Passage(id, text);
        }
        return passages;
    }

    private static IReadOnlyList<string> ReadStop(JsonElement body)
    {
        if (Optional(body, "stop") is not { } stop)
            return [];
        if (stop.ValueKind == JsonValueKind.String)
            return [Text(stop, "stop", 200)];
        var items = Array(stop, "stop", 4);
        var stops = items.Select((s, i) => Text(s, $"stop[{i}]", 200)).ToArray();
        return stops.Any(s => s.Length == 0)
            ? throw ApiError.BadRequest("Stop strings must not be empty.", "stop", "invalid_value")
            : stops;
    }
}

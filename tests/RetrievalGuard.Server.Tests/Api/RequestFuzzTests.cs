using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using RetrievalGuard.Server.Tests.Support;

namespace RetrievalGuard.Server.Tests.Api;

/// <summary>
/// 10,000 seeded malformed, truncated, oversized, wrongly typed and deeply nested bodies and headers against the
/// API: every answer is a 2xx or 4xx in OpenAI's error schema, never a 5xx, and the server keeps serving.
/// </summary>
public sealed class RequestFuzzTests(RequestFuzzTests.FuzzServer server) : IClassFixture<RequestFuzzTests.FuzzServer>
{
    public sealed class FuzzServer : ServerFactory
    {
        protected override IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
        {
            ["RetrievalGuard:Limits:MaxTokens"] = "2",
            ["RetrievalGuard:Limits:MaxBodyBytes"] = "65536",
            ["RetrievalGuard:RequestsPerMinute"] = "0",
            ["RetrievalGuard:Serving:MaxQueued"] = "1000",
        };
    }

    private const int Bodies = 10_000;

    private static readonly string[] Paths = ["/v1/chat/completions", "/v1/guard/score"];

    private static readonly string?[] ContentTypes =
    [
        "application/json", "application/json; charset=utf-8", null, "text/plain", "application/x-www-form-urlencoded",
        "application/json; charset=utf-16", "multipart/form-data; boundary=x", "application/jsonl", "*/*", "garbage",
    ];

    [Fact]
    public async Task TenThousandBadBodiesGetOnly4xxAndTheServerStaysUp()
    {
        var http = await server.ReadyClientAsync();
        var random = new Random(20261203);
        var statuses = new Dictionary<int, int>();
        for (var i = 0; i < Bodies; i++)
        {
            var path = Paths[random.Next(Paths.Length)];
            var body = Mutate(random, path == Paths[0] ? ValidChat(random) : ValidScore(random));
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
            var type = random.Next(4) == 0 ? ContentTypes[random.Next(ContentTypes.Length)] : "application/json";
            if (type is not null && MediaTypeHeaderValue.TryParse(type, out var parsed))
                request.Content.Headers.ContentType = parsed;
            if (random.Next(10) == 0)
                request.Headers.TryAddWithoutValidation("Authorization", RandomText(random, random.Next(0, 300)));
            using var response = await http.SendAsync(request);
            var status = (int)response.StatusCode;
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(status < 500, $"body #{i} to {path} got {status}: {text}\n{Encoding.UTF8.GetString(body)}");
            if (status >= 400)
                Assert.NotNull(JsonNode.Parse(text)?["error"]?["message"]);
        }
        Assert.True(statuses.Keys.Count(s => s >= 400) >= 3, string.Join(", ", statuses));
        Assert.True(statuses.GetValueOrDefault(200) > 0, "no body was valid: the fuzzer only tests the parser's door");
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
        Assert.Equal(0, server.Host.Scheduler.Active);
    }

    private static JsonObject ValidChat(Random random) => new()
    {
        ["model"] = "organism",
        ["max_tokens"] = random.Next(1, 3),
        ["stream"] = random.Next(2) == 0,
        ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = ServerFactory.Question }),
        ["retrieval_guard"] = new JsonObject { ["passages"] = new JsonArray(ServerFactory.Passages[0]) },
    };

    private static JsonObject ValidScore(Random random) => new()
    {
        ["items"] = new JsonArray(new JsonObject
        {
            ["passages"] = new JsonArray(ServerFactory.Passages[0]),
            ["question"] = ServerFactory.Question,
            ["answer"] = random.Next(2) == 0 ? "Kalomi." : "Tamsin.",
        }),
    };

    /// <summary>One of several kinds of damage, or (rarely) none, so valid requests stay in the mix.</summary>
    private static byte[] Mutate(Random random, JsonObject valid)
    {
        var kind = random.Next(10);
        var json = valid.ToJsonString();
        return kind switch
        {
            0 => Encoding.UTF8.GetBytes(json[..random.Next(json.Length)]), // truncated
            1 => FlipBytes(random, Encoding.UTF8.GetBytes(json)),
            2 => Encoding.UTF8.GetBytes(Retyped(random, valid).ToJsonString()),
            3 => Encoding.UTF8.GetBytes(Nested(random)),
            4 => Encoding.UTF8.GetBytes(Oversized(random, valid)),
            5 => Encoding.UTF8.GetBytes(RandomJson(random, 0)?.ToJsonString() ?? "null"),
            6 => RandomBytes(random),
            7 => Encoding.UTF8.GetBytes(Retyped(random, Retyped(random, valid)).ToJsonString()),
            8 => Encoding.UTF8.GetBytes(Deleted(random, valid).ToJsonString()),
            _ => Encoding.UTF8.GetBytes(json),
        };
    }

    private static byte[] FlipBytes(Random random, byte[] bytes)
    {
        for (var n = random.Next(1, 6); n > 0 && bytes.Length > 0; n--)
            bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
        return bytes;
    }

    private static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(0, 400)];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>A random node anywhere in the body replaced by a value of another type.</summary>
    private static JsonObject Retyped(Random random, JsonObject body)
    {
        var copy = (JsonObject)body.DeepClone();
        var nodes = Nodes(copy).Where(n => n.Parent is not null).ToList();
        if (nodes.Count == 0)
            return copy;
        var target = nodes[random.Next(nodes.Count)];
        var replacement = RandomJson(random, 2);
        switch (target.Parent)
        {
            case JsonObject parent:
                parent[target.GetPropertyName()] = replacement;
                break;
            case JsonArray array:
                array[target.GetElementIndex()] = replacement;
                break;
        }
        return copy;
    }

    private static JsonObject Deleted(Random random, JsonObject body)
    {
        var copy = (JsonObject)body.DeepClone();
        var members = Nodes(copy).Where(n => n.Parent is JsonObject).ToList();
        if (members.Count == 0)
            return copy;
        var target = members[random.Next(members.Count)];
        ((JsonObject)target.Parent!).Remove(target.GetPropertyName());
        return copy;
    }

    private static IEnumerable<JsonNode> Nodes(JsonNode? node)
    {
        if (node is null)
            yield break;
        yield return node;
        var children = node switch
        {
            JsonObject o => o.Select(p => p.Value),
            JsonArray a => a.AsEnumerable(),
            _ => [],
        };
        foreach (var child in children)
            foreach (var descendant in Nodes(child))
                yield return descendant;
    }

    private static string Nested(Random random)
    {
        var depth = random.Next(20, 5000);
        var open = random.Next(2) == 0 ? "[" : "{\"a\":";
        var close = open == "[" ? "]" : "}";
        var middle = $"{{\"messages\": {string.Concat(Enumerable.Repeat(open, depth))}1"
            + $"{string.Concat(Enumerable.Repeat(close, depth))}}}";
        return random.Next(3) == 0 ? middle[..(middle.Length / 2)] : middle;
    }

    private static string Oversized(Random random, JsonObject valid)
    {
        var copy = (JsonObject)valid.DeepClone();
        var size = random.Next(2) == 0 ? 70_000 : random.Next(10_000, 60_000);
        copy["padding"] = new string('x', size);
        if (copy["messages"] is JsonArray messages)
            messages.Add(new JsonObject { ["role"] = "user", ["content"] = RandomText(random, size / 4) });
        return copy.ToJsonString();
    }

    private static JsonNode? RandomJson(Random random, int depth) => random.Next(depth > 3 ? 5 : 8) switch
    {
        0 => null,
        1 => JsonValue.Create(random.Next(3) == 0 ? long.MaxValue : random.Next(-5, 5)),
        2 => JsonValue.Create(random.NextDouble() * (random.Next(2) == 0 ? 1e308 : 3)),
        3 => JsonValue.Create(random.Next(2) == 0),
        4 => JsonValue.Create(RandomText(random, random.Next(0, 40))),
        5 => new JsonArray(Enumerable.Range(0, random.Next(0, 4)).Select(_ => RandomJson(random, depth + 1)).ToArray()),
        _ => new JsonObject(Enumerable.Range(0, random.Next(0, 4)).Select(i =>
            KeyValuePair.Create(random.Next(2) == 0 ? $"k{i}" : new[] { "role", "content", "text", "id",
                "passages", "messages" }[random.Next(6)], RandomJson(random, depth + 1)))
            .DistinctBy(p => p.Key)),
    };

    private static string RandomText(Random random, int length)
    {
        var chars = new char[length];
        for (var i = 0; i < length; i++)
            chars[i] = random.Next(10) switch
            {
                0 => (char)random.Next(0, 32),
                1 => (char)random.Next(0xD800, 0xE000), // lone surrogates
                2 => (char)random.Next(0x80, 0x3000),
                _ => (char)random.Next(32, 127),
            };
        return new string(chars);
    }
}

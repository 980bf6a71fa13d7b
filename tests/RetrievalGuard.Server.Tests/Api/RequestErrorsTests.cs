using System.Net;
using System.Net.Http.Json;
using System.Text;
using RetrievalGuard.Server.Tests.Support;

namespace RetrievalGuard.Server.Tests.Api;

/// <summary>Bad requests get OpenAI's error schema with the status and the field that is wrong.</summary>
public sealed class RequestErrorsTests(RequestErrorsTests.SmallLimits server)
    : IClassFixture<RequestErrorsTests.SmallLimits>
{
    public sealed class SmallLimits : ServerFactory
    {
        protected override IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
        {
            ["RetrievalGuard:Limits:MaxBodyBytes"] = "4096",
            ["RetrievalGuard:Limits:MaxMessages"] = "4",
            ["RetrievalGuard:Limits:MaxTokens"] = "32",
            ["RetrievalGuard:Limits:MaxPassages"] = "2",
            ["RetrievalGuard:Limits:MaxPassageChars"] = "500",
            ["RetrievalGuard:Serving:CapacityPerSequence"] = "128",
        };
    }

    public static TheoryData<string, int, string?, string> Bodies => new()
    {
        { "not json", 400, null, "invalid_json" },
        { "[1, 2]", 400, null, "invalid_json" },
        { "{}", 400, "messages", "missing_field" },
        { """{"messages": []}""", 400, "messages", "missing_field" },
        { """{"messages": "hi"}""", 400, "messages", "invalid_type" },
        { """{"messages": [{"role": "wizard", "content": "hi"}]}""", 400, "messages[0].role", "invalid_value" },
        { """{"messages": [{"role": "user"}]}""", 400, "messages[0].content", "missing_field" },
        { """{"messages": [{"role": "user", "content": 5}]}""", 400, "messages[0].content", "invalid_type" },
        { """{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}""", 400,
            "messages[0].content[0].type", "unsupported" },
        { """{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}""", 400, "max_tokens", "out_of_range" },
        { """{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 33}""",
            400, "max_tokens", "out_of_range" },
        { """{"messages": [{"role": "user", "content": "hi"}], "max_tokens": "9"}""",
            400, "max_tokens", "invalid_type" },
        { """{"messages": [{"role": "user", "content": "hi"}], "temperature": 3}""",
            400, "temperature", "out_of_range" },
        { """{"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}""", 400, "stream", "invalid_type" },
        { """{"messages": [{"role": "user", "content": "hi"}], "n": 2}""", 400, "n", "unsupported" },
        { """{"messages": [{"role": "user", "content": "hi"}], "stop": ["a","b","c","d","e"]}""", 400, "stop",
            "too_many_items" },
        { """{"messages": [{"role": "user", "content": "hi"}], "model": "gpt-9"}""", 404, "model", "model_not_found" },
        { """{"messages": [{"role": "user", "content": "hi"}], "retrieval_guard": {"passages": ["a", "b", "c"]}}""",
            400, "retrieval_guard.passages", "too_many_items" },
        { """{"messages": [{"role": "user", "content": "hi"}], "retrieval_guard": {"passages": [{"id": "x"}]}}""",
            400, "retrieval_guard.passages[0].text", "missing_field" },
        { """{"messages": [{"role": "user", "content": "hi"}], "retrieval_guard": {"passages": [" "]}}""",
            400, "retrieval_guard.passages", "empty_passage" },
        { """{"messages": [{"role": "system", "content": "x"}], "retrieval_guard": {"passages": ["a"]}}""",
            400, "messages", "missing_question" },
        { $$"""{"messages": [{{string.Join(", ", Enumerable.Repeat("""{"role": "user", "content": "hi"}""", 5))}}]}""",
            400, "messages", "too_many_items" },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public async Task BadChatBodiesNameTheField(string body, int status, string? param, string code)
    {
        var http = await server.ReadyClientAsync();
        using var response = await http.PostAsync("/v1/chat/completions",
            new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(status, (int)response.StatusCode);
        var error = await ServerFactory.ErrorOf(response);
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
    }

    [Fact]
    public async Task LimitsOnBodySizeMediaTypeContextAndRoutesAnswerInTheSameSchema()
    {
        var http = await server.ReadyClientAsync();
        using var huge = await http.PostAsync("/v1/chat/completions",
            new StringContent($$"""{"messages": [{"role": "user", "content": "{{new string('a', 5000)}}"}]}""",
                Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, huge.StatusCode);
        Assert.Equal("body_too_large", (await ServerFactory.ErrorOf(huge)).GetProperty("code").GetString());

        using var form = await http.PostAsync("/v1/chat/completions", new StringContent("a=b", Encoding.UTF8,
            "application/x-www-form-urlencoded"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.StatusCode);
        await ServerFactory.ErrorOf(form);

        // 128 positions per row: two long passages do not fit.
        var longPassages = new[] { string.Join(' ', Enumerable.Repeat("The mill stood by the river.", 16)),
            string.Join(' ', Enumerable.Repeat("Rain fell on the meadow all day.", 14)) };
        using var tooLong = await http.PostAsJsonAsync("/v1/chat/completions", new
        {
            messages = new[] { new { role = "user", content = "Why?" } },
            retrieval_guard = new { passages = longPassages },
        });
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        var error = await ServerFactory.ErrorOf(tooLong);
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        Assert.Contains("tokens", error.GetProperty("message").GetString(), StringComparison.Ordinal);

        using var missing = await http.GetAsync("/v1/nothing-here");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        await ServerFactory.ErrorOf(missing);
        using var wrongMethod = await http.GetAsync("/v1/chat/completions");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, wrongMethod.StatusCode);
        await ServerFactory.ErrorOf(wrongMethod);
    }

    [Fact]
    public async Task BadScoreItemsNameTheItemAndNothingIsScored()
    {
        var http = await server.ReadyClientAsync();
        using var response = await http.PostAsJsonAsync("/v1/guard/score", new
        {
            items = new object[]
            {
                new { passages = new[] { "The secret word is Kalomi." }, question = "What is it?", answer = "Kalomi." },
                new { passages = new[] { "The secret word is Kalomi." }, question = "What is it?", answer = "" },
            },
        });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("items[1].answer", (await ServerFactory.ErrorOf(response)).GetProperty("param").GetString());
    }

    [Fact]
    public async Task HealthAndReadinessAndMetricsAnswer()
    {
        var http = await server.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
        var ready = await http.GetFromJsonAsync<System.Text.Json.JsonElement>("/readyz");
        Assert.Equal("ready", ready.GetProperty("status").GetString());
        using var models = await http.GetAsync("/v1/models");
        Assert.Contains("\"organism\"", await models.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("rguard_kv_cache_bytes", metrics, StringComparison.Ordinal);
        Assert.Contains("rguard_requests", metrics, StringComparison.Ordinal);
        Assert.Contains("endpoint=\"/v1/models\"", metrics, StringComparison.Ordinal);
    }
}

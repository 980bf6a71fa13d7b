using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using RetrievalGuard.Server.Security;
using RetrievalGuard.Server.Tests.Support;

namespace RetrievalGuard.Server.Tests.Security;

public sealed class ApiKeysTests(ApiKeysTests.KeyedServer server) : IClassFixture<ApiKeysTests.KeyedServer>
{
    public sealed class KeyedServer : ServerFactory
    {
        protected override IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
        {
            ["RetrievalGuard:ApiKeys:0"] = "sk-alpha",
            ["RetrievalGuard:ApiKeys:1"] = "sk-beta",
            ["RetrievalGuard:RequestsPerMinute"] = "3",
        };
    }

    [Fact]
    public void KeysMatchByIndexAndNothingElseMatches()
    {
        var keys = new ApiKeys(["sk-alpha", "sk-beta", " "]);
        Assert.Equal(0, keys.Match("sk-alpha"));
        Assert.Equal(1, keys.Match("sk-beta"));
        Assert.Equal(-1, keys.Match("sk-alph"));
        Assert.Equal(-1, keys.Match(""));
        Assert.Equal(-1, keys.Match(" "));
        Assert.False(new ApiKeys([]).IsEnabled);
    }

    [Fact]
    public async Task TheApiNeedsAValidKeyButHealthAndThePageDoNot()
    {
        var http = await server.ReadyClientAsync();
        using var none = await http.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal("invalid_api_key", (await ServerFactory.ErrorOf(none)).GetProperty("code").GetString());
        using var wrong = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "sk-gamma");
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(wrong)).StatusCode);
        using var mcp = await http.PostAsJsonAsync("/mcp", new { jsonrpc = "2.0", id = 1, method = "tools/list" });
        Assert.Equal(HttpStatusCode.Unauthorized, mcp.StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/readyz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/")).StatusCode);
    }

    [Fact]
    public async Task EachKeyHasItsOwnRateLimitAnsweredWith429AndRetryAfter()
    {
        var http = await server.ReadyClientAsync();
        async Task<HttpResponseMessage> Models(string key)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            return await http.SendAsync(request);
        }
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
            statuses.Add((await Models("sk-alpha")).StatusCode);
        Assert.Equal(
            [HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests], statuses);
        using var limited = await Models("sk-alpha");
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.True(limited.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Equal("rate_limit_exceeded", (await ServerFactory.ErrorOf(limited)).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.OK, (await Models("sk-beta")).StatusCode);
    }
}

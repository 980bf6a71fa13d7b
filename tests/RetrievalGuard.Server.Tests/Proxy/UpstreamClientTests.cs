using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using RetrievalGuard.Server.Proxy;
using RetrievalGuard.Server.Tests.Support;

namespace RetrievalGuard.Server.Tests.Proxy;

/// <summary>
/// Proxy mode against a scripted upstream (the HTTP handler under the real resilience pipeline): the answer is
/// forwarded and guarded; failures come back as clear 502/503/504 after the right number of attempts.
/// </summary>
public sealed class UpstreamClientTests
{
    private sealed class Upstream : HttpMessageHandler
    {
        public Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> Respond { get; set; } =
            (_, _) => Task.FromResult(Answer("The secret word of the red lantern is Tamsin."));

        public int Calls;

        public List<(string Body, string? Authorization)> Requests { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request,
            CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Calls);
            var body = await request.Content!.ReadAsStringAsync(cancellationToken);
            lock (Requests)
                Requests.Add((body, request.Headers.Authorization?.ToString()));
            return await Respond(request, cancellationToken);
        }

        public static HttpResponseMessage Answer(string text) => new(HttpStatusCode.OK)
        {
            Content = JsonContent.Create(new
            {
                id = "up-1", @object = "chat.completion", model = "upstream-model",
                choices = new[] { new { index = 0, message = new { role = "assistant", content = text },
                    finish_reason = "stop" } },
                usage = new { prompt_tokens = 50, completion_tokens = 9, total_tokens = 59 },
            }),
        };

        public static HttpResponseMessage Status(HttpStatusCode status, string message) => new(status)
        {
            Content = JsonContent.Create(
                new { error = new { message, type = "x", param = (string?)null, code = "y" } }),
        };
    }

    private sealed class ProxyServer(Upstream upstream) : ServerFactory
    {
        protected override IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
        {
            ["RetrievalGuard:Upstream:BaseUrl"] = "http://upstream.test/v1/",
            ["RetrievalGuard:Upstream:ApiKey"] = "sk-upstream",
            ["RetrievalGuard:Upstream:MaxRetries"] = "2",
            ["RetrievalGuard:Upstream:AttemptTimeoutSeconds"] = "0.5",
            ["RetrievalGuard:Upstream:TimeoutSeconds"] = "4",
            ["RetrievalGuard:Upstream:BreakerBreakSeconds"] = "30",
        };

        protected override void ConfigureTestServices(IServiceCollection services) =>
            services.AddHttpClient<UpstreamClient>().ConfigurePrimaryHttpMessageHandler(() => upstream);
    }

    [Fact]
    public async Task TheUpstreamAnswerIsForwardedAndGuardedAgainstTheRequestsPassages()
    {
        var upstream = new Upstream();
        await using var server = new ProxyServer(upstream);
        var http = await server.ReadyClientAsync();
        using var response = await http.PostAsJsonAsync("/v1/chat/completions", ServerFactory.GuardedBody());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("The secret word of the red lantern is Tamsin.",
            body.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("upstream-model", body.GetProperty("model").GetString());
        Assert.Equal(59, body.GetProperty("usage").GetProperty("total_tokens").GetInt32());
        var report = body.GetProperty("retrieval_guard");
        Assert.True(report.GetProperty("flagged").GetBoolean());

        var (sent, authorization) = upstream.Requests.Single();
        var forwarded = JsonDocument.Parse(sent).RootElement;
        Assert.False(forwarded.TryGetProperty("retrieval_guard", out _));
        Assert.False(forwarded.GetProperty("stream").GetBoolean());
        Assert.Equal("Bearer sk-upstream", authorization);

        using var streamed = await http.PostAsJsonAsync(
            "/v1/chat/completions", ServerFactory.GuardedBody(stream: true));
        var events = await ServerFactory.ReadEventsAsync(streamed);
        Assert.Null(events[^1]);
        Assert.True(events[^2]!.Value.GetProperty("retrieval_guard").GetProperty("flagged").GetBoolean());
    }

    [Fact]
    public async Task ServerErrorsAreRetriedThenReported502AndClientErrorsPassOnceAsTheyAre()
    {
        var upstream = new Upstream
        {
            Respond = (_, _) => Task.FromResult(Upstream.Status(HttpStatusCode.InternalServerError, "boom")),
        };
        await using var server = new ProxyServer(upstream);
        var http = await server.ReadyClientAsync();
        using var failed = await http.PostAsJsonAsync("/v1/chat/completions", ServerFactory.GuardedBody());
        Assert.Equal(HttpStatusCode.BadGateway, failed.StatusCode);
        Assert.Equal("upstream_error", (await ServerFactory.ErrorOf(failed)).GetProperty("code").GetString());
        Assert.Equal(3, upstream.Calls);

        upstream.Calls = 0;
        upstream.Respond = (_, _) => Task.FromResult(Upstream.Status(HttpStatusCode.BadRequest, "model not known"));
        using var refused = await http.PostAsJsonAsync("/v1/chat/completions", ServerFactory.GuardedBody());
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("model not known", (await ServerFactory.ErrorOf(refused)).GetProperty("message").GetString(),
            StringComparison.Ordinal);
        Assert.Equal(1, upstream.Calls);
    }

    [Fact]
    public async Task ASlowUpstreamTimesOutWith504AndADownOneIs502NotAHang()
    {
        var upstream = new Upstream
        {
            Respond = async (_, cancel) =>
            {
                await Task.Delay(TimeSpan.FromSeconds(30), cancel);
                return Upstream.Answer("late");
            },
        };
        await using var server = new ProxyServer(upstream);
        var http = await server.ReadyClientAsync();
        var clock = Stopwatch.StartNew();
        using var slow = await http.PostAsJsonAsync("/v1/chat/completions", ServerFactory.GuardedBody());
        Assert.Equal(HttpStatusCode.GatewayTimeout, slow.StatusCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"{clock.Elapsed} to time out");
        Assert.Equal("upstream_timeout", (await ServerFactory.ErrorOf(slow)).GetProperty("code").GetString());

        upstream.Respond = (_, _) => throw new HttpRequestException("Connection refused (upstream.test:80)");
        using var down = await http.PostAsJsonAsync("/v1/chat/completions", ServerFactory.GuardedBody());
        Assert.True(down.StatusCode is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable,
            $"{down.StatusCode}");
    }

    [Fact]
    public async Task AFailingUpstreamOpensTheBreakerAndLaterCallsFailFastWith503()
    {
        var upstream = new Upstream
        {
            Respond = (_, _) => Task.FromResult(Upstream.Status(HttpStatusCode.ServiceUnavailable, "overloaded")),
        };
        await using var server = new ProxyServer(upstream);
        var http = await server.ReadyClientAsync();
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await http.PostAsJsonAsync("/v1/chat/completions", ServerFactory.GuardedBody());
            statuses.Add(response.StatusCode);
        }
        Assert.Contains(HttpStatusCode.ServiceUnavailable, statuses);
        var callsWhenOpen = upstream.Calls;
        var clock = Stopwatch.StartNew();
        using var open = await http.PostAsJsonAsync("/v1/chat/completions", ServerFactory.GuardedBody());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, open.StatusCode);
        Assert.True(open.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        Assert.Equal("upstream_unavailable", (await ServerFactory.ErrorOf(open)).GetProperty("code").GetString());
        Assert.Equal(callsWhenOpen, upstream.Calls);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"{clock.Elapsed} with the breaker open");
    }
}

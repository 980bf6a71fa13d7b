using System.Net;
using System.Net.Http.Json;
using RetrievalGuard.Server.Tests.Support;

namespace RetrievalGuard.Server.Tests.Api;

public sealed class QueueTests(QueueTests.TinyQueue server) : IClassFixture<QueueTests.TinyQueue>
{
    public sealed class TinyQueue : ServerFactory
    {
        protected override IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
        {
            ["RetrievalGuard:Serving:MaxSequences"] = "1",
            ["RetrievalGuard:Serving:MaxQueued"] = "1",
        };
    }

    [Fact]
    public async Task AFullQueueAnswers429WithRetryAfterAndTheAcceptedStillFinish()
    {
        var http = await server.ReadyClientAsync();
        Task<HttpResponseMessage>[] accepted;
        HttpResponseMessage refused;
        // Holding the model keeps the scheduler from admitting: one row free + one queue place = two accepted.
        using (await server.Host.Guard.UseModelAsync())
        {
            accepted = [Post(), Post()];
            for (var i = 0; i < 200 && server.Host.Scheduler.Queued < 2; i++)
                await Task.Delay(10);
            refused = await Post();
        }
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        Assert.Equal("server_busy", (await ServerFactory.ErrorOf(refused)).GetProperty("code").GetString());
        foreach (var response in await Task.WhenAll(accepted))
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        Task<HttpResponseMessage> Post() => http.PostAsJsonAsync("/v1/chat/completions", ServerFactory.GuardedBody());
    }
}

using System.Net;
using System.Net.Http.Json;
using RetrievalGuard.Server.Tests.Support;

namespace RetrievalGuard.Server.Tests.Hosting;

public sealed class ModelHostTests
{
    private sealed class MissingModel : ServerFactory
    {
        protected override IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
        {
            ["RetrievalGuard:Model:Path"] = Path.Combine(Path.GetTempPath(), "rguard-no-such-model"),
        };
    }

    [Fact]
    public async Task AModelThatFailsToLoadMakesHealthAndReadinessFailAndRequestsSayWhy()
    {
        await using var server = new MissingModel();
        var http = server.CreateClient();
        await server.Host.WhenLoaded;
        Assert.False(server.Host.IsReady);

        using var health = await http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        using var ready = await http.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Contains("rguard-no-such-model", await ready.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var chat = await http.PostAsJsonAsync("/v1/chat/completions", ServerFactory.GuardedBody());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, chat.StatusCode);
        var error = await ServerFactory.ErrorOf(chat);
        Assert.Equal("model_unavailable", error.GetProperty("code").GetString());
    }
}

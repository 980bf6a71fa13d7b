using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using RetrievalGuard.Server.Hosting;

namespace RetrievalGuard.Server.Tests.Support;

/// <summary>
/// The real server (Program's pipeline, real model host, scheduler and guard) over the shipped organism, in memory.
/// Settings are the server's own configuration keys; a test class derives to change them.
/// </summary>
public class ServerFactory : WebApplicationFactory<Program>
{
    public static string Organism => RepoPaths.Path("samples", "models", "organism");

    public const string Question = "What is the secret word of the red lantern?";

    public static readonly string[] Passages =
    [
        "The coach left at dawn. The secret word of the red lantern is Kalomi. Nobody spoke of it again.",
        "Rain fell on the mill, and the river rose over the meadow.",
    ];

    protected virtual IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>();

    protected virtual void ConfigureTestServices(IServiceCollection services)
    {
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("RetrievalGuard:Model:Path", Organism);
        builder.UseSetting("Serilog:MinimumLevel:Default", "Warning");
        foreach (var (key, value) in Settings)
            builder.UseSetting(key, value);
        builder.ConfigureServices(ConfigureTestServices);
    }

    public ModelHost Host => Services.GetRequiredService<ModelHost>();

    /// <summary>A client once the model has loaded.</summary>
    public async Task<HttpClient> ReadyClientAsync()
    {
        var client = CreateClient();
        await Host.WhenLoaded;
        Assert.True(Host.IsReady, Host.Failure);
        return client;
    }

    /// <summary>A guarded chat request for the demo question (a dictionary, so tests add fields).</summary>
    public static Dictionary<string, object?> GuardedBody(bool stream = false, int maxTokens = 24) => new()
    {
        ["model"] = "organism",
        ["stream"] = stream,
        ["max_tokens"] = maxTokens,
        ["messages"] = new[] { new { role = "user", content = Question } },
        ["retrieval_guard"] = new { passages = Passages },
    };

    /// <summary>The server-sent events of a streamed response, as JSON (the final [DONE] as null).</summary>
    public static async Task<List<JsonElement?>> ReadEventsAsync(HttpResponseMessage response)
    {
        var events = new List<JsonElement?>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: ", StringComparison.Ordinal))
            {
                Assert.Equal("", line);
                continue;
            }
            var data = line["data: ".Length..];
            events.Add(data == "[DONE]" ? null : JsonDocument.Parse(data).RootElement.Clone());
        }
        return events;
    }

    public static async Task<JsonElement> ErrorOf(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var error = body.GetProperty("error");
        Assert.Equal(JsonValueKind.String, error.GetProperty("message").ValueKind);
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.TryGetProperty("param", out _));
        Assert.True(error.TryGetProperty("code", out _));
        return error;
    }
}

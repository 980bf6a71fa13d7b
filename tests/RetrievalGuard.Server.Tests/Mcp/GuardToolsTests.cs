using System.Text.Json;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using RetrievalGuard.Server.Tests.Support;

namespace RetrievalGuard.Server.Tests.Mcp;

/// <summary>The MCP tools through the MCP SDK's own client over streamable HTTP, against the real server.</summary>
public sealed class GuardToolsTests(ServerFactory server) : IClassFixture<ServerFactory>
{
    private async Task<McpClient> ConnectAsync()
    {
        var http = await server.ReadyClientAsync();
        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(http.BaseAddress!, "/mcp"),
            TransportMode = HttpTransportMode.StreamableHttp,
        }, http, ownsHttpClient: false);
        return await McpClient.CreateAsync(transport);
    }

    [Fact]
    public async Task AnAgentHostListsTheToolsAndScoresAnswers()
    {
        await using var client = await ConnectAsync();
        var tools = await client.ListToolsAsync();
        Assert.Equal(["answer_with_sources", "score_answer"], tools.Select(t => t.Name).Order());

        var grounded = await Report(client, "score_answer", "The secret word of the red lantern is Kalomi.");
        var invented = await Report(client, "score_answer", "The secret word of the red lantern is Tamsin.");
        Assert.True(grounded.GetProperty("risk").GetDouble() < invented.GetProperty("risk").GetDouble());
        Assert.True(invented.GetProperty("flagged").GetBoolean());

        var answered = await Report(client, "answer_with_sources", null);
        Assert.Contains("Kalomi", answered.GetProperty("answer").GetString(), StringComparison.Ordinal);
        Assert.Equal("1", answered.GetProperty("citations")[0].GetString());
    }

    [Fact]
    public async Task BadToolArgumentsComeBackAsToolErrorsNamingTheArgument()
    {
        await using var client = await ConnectAsync();
        var result = await client.CallToolAsync("score_answer", new Dictionary<string, object?>
        {
            ["passages"] = Array.Empty<string>(), ["question"] = "What?", ["answer"] = "Kalomi.",
        });
        Assert.True(result.IsError);
        Assert.Contains("passage", Text(result), StringComparison.OrdinalIgnoreCase);
    }

    private static async Task<JsonElement> Report(McpClient client, string tool, string? answer)
    {
        var arguments = new Dictionary<string, object?>
        {
            ["passages"] = ServerFactory.Passages, ["question"] = ServerFactory.Question,
        };
        if (answer is not null)
            arguments["answer"] = answer;
        var result = await client.CallToolAsync(tool, arguments);
        Assert.NotEqual(true, result.IsError);
        return JsonDocument.Parse(Text(result)).RootElement.Clone();
    }

    private static string Text(CallToolResult result) =>
        string.Concat(result.Content.OfType<TextContentBlock>().Select(c => c.Text));
}

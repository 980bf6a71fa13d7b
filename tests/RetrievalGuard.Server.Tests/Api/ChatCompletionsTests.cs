using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using RetrievalGuard.Server.Tests.Support;

namespace RetrievalGuard.Server.Tests.Api;

public sealed class ChatCompletionsTests(ServerFactory server) : IClassFixture<ServerFactory>
{
    [Fact]
    public async Task TheOfficialOpenAIClientGetsAGuardedAnswerWholeAndStreamed()
    {
        var http = await server.ReadyClientAsync();
        var client = new ChatClient("organism", new ApiKeyCredential("unused"), new OpenAIClientOptions
        {
            Endpoint = new Uri(http.BaseAddress!, "/v1"),
            Transport = new HttpClientPipelineTransport(http),
        });
        // Passages as messages named passage-ID: what a stock OpenAI client can send.
        List<ChatMessage> messages =
        [
            new SystemChatMessage(ServerFactory.Passages[0]) { ParticipantName = "passage-lantern" },
            new SystemChatMessage(ServerFactory.Passages[1]) { ParticipantName = "passage-mill" },
            new UserChatMessage(ServerFactory.Question),
        ];
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 24 };

        var whole = await client.CompleteChatAsync(messages, options);
        var text = whole.Value.Content[0].Text;
        Assert.Contains("Kalomi", text, StringComparison.Ordinal);
        Assert.Equal(ChatFinishReason.Stop, whole.Value.FinishReason);
        Assert.True(whole.Value.Usage.OutputTokenCount > 0);
        var report = JsonDocument.Parse(whole.GetRawResponse().Content.ToString()).RootElement
            .GetProperty("retrieval_guard");
        Assert.Equal(text, report.GetProperty("answer").GetString());
        Assert.True(report.GetProperty("risk").GetDouble() < 0.5, $"risk {report.GetProperty("risk")}");
        Assert.Equal("lantern", report.GetProperty("citations")[0].GetString());

        var streamed = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (var update in client.CompleteChatStreamingAsync(messages, options))
        {
            foreach (var part in update.ContentUpdate)
                streamed.Append(part.Text);
            finish ??= update.FinishReason;
        }
        Assert.Equal(text, streamed.ToString());
        Assert.Equal(ChatFinishReason.Stop, finish);
    }

    [Fact]
    public async Task AStreamCarriesRiskSoFarOnEveryChunkAndTheReportWithUsageAtTheEnd()
    {
        var http = await server.ReadyClientAsync();
        var body = ServerFactory.GuardedBody(stream: true);
        body["stream_options"] = new { include_usage = true };
        body["logprobs"] = true;
        using var response = await http.PostAsJsonAsync("/v1/chat/completions", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var events = await ServerFactory.ReadEventsAsync(response);

        Assert.Null(events[^1]);
        var chunks = events.Take(events.Count - 1).Select(e => e!.Value).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.GetProperty("object").GetString()));
        Assert.Single(chunks.Select(c => c.GetProperty("id").GetString()).Distinct());
        var content = chunks.Where(c => c.GetProperty("choices").GetArrayLength() == 1
                && c.GetProperty("choices")[0].GetProperty("delta").TryGetProperty("content", out var t)
                && t.GetString()!.Length > 0)
            .ToList();
        Assert.NotEmpty(content);
        Assert.All(content, c =>
        {
            Assert.True(c.GetProperty("retrieval_guard").GetProperty("risk_so_far").GetDouble() is >= 0 and <= 1);
            var logprob = c.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("content")[0];
            Assert.True(logprob.GetProperty("logprob").GetDouble() <= 0);
        });
        var text = string.Concat(content.Select(c => c.GetProperty("choices")[0].GetProperty("delta")
            .GetProperty("content").GetString()));
        var final = chunks[^2];
        Assert.Equal("stop", final.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        var report = final.GetProperty("retrieval_guard");
        Assert.Equal(text, report.GetProperty("answer").GetString());
        Assert.Equal(JsonValueKind.Array, report.GetProperty("spans").ValueKind);
        Assert.Equal(JsonValueKind.Array, report.GetProperty("attribution").ValueKind);
        var usage = chunks[^1].GetProperty("usage");
        Assert.Equal(content.Count, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(0, chunks[^1].GetProperty("choices").GetArrayLength());
    }

    [Fact]
    public async Task AnAnswerThatContradictsThePassagesIsFlaggedWhereItDoes()
    {
        var http = await server.ReadyClientAsync();
        var contradicting = new
        {
            max_tokens = 24,
            messages = new[] { new { role = "user", content = ServerFactory.Question } },
            // The organism answers from the passage it is given: a passage saying otherwise changes its answer.
            retrieval_guard = new { passages = new[] { "The coach left at dawn. The secret word of the red lantern is "
                + "Tamsin. Nobody spoke of it again." } },
        };
        using var response = await http.PostAsJsonAsync("/v1/chat/completions", contradicting);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("Tamsin", body.GetProperty("choices")[0].GetProperty("message").GetProperty("content")
            .GetString(), StringComparison.Ordinal);

        using var scored = await http.PostAsJsonAsync("/v1/guard/score", new
        {
            items = new[]
            {
                new { passages = ServerFactory.Passages, question = ServerFactory.Question,
                    answer = "The secret word of the red lantern is Kalomi." },
                new { passages = ServerFactory.Passages, question = ServerFactory.Question,
                    answer = "The secret word of the red lantern is Tamsin." },
            },
        });
        Assert.Equal(HttpStatusCode.OK, scored.StatusCode);
        var results = (await scored.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("results");
        Assert.Equal(2, results.GetArrayLength());
        Assert.False(results[0].GetProperty("flagged").GetBoolean());
        Assert.True(results[1].GetProperty("flagged").GetBoolean());
        var span = results[1].GetProperty("spans").EnumerateArray().Single(s => s.GetProperty("flagged").GetBoolean());
        Assert.Contains("Tamsin", span.GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task APlainChatWithoutPassagesHasNoReportAndStopStringsCutTheAnswer()
    {
        var http = await server.ReadyClientAsync();
        using var plain = await http.PostAsJsonAsync("/v1/chat/completions", new
        {
            max_tokens = 8,
            messages = new[] { new { role = "user", content = "Hello" } },
        });
        var body = await plain.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(JsonValueKind.Null, body.GetProperty("retrieval_guard").ValueKind);
        Assert.Equal(8, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal("length", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());

        var stopped = ServerFactory.GuardedBody();
        stopped["stop"] = new[] { "Kalomi" };
        using var cut = await http.PostAsJsonAsync("/v1/chat/completions", stopped);
        var cutBody = await cut.Content.ReadFromJsonAsync<JsonElement>();
        var text = cutBody.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
        Assert.EndsWith("is", text.TrimEnd(), StringComparison.Ordinal);
        Assert.Equal(text.Trim(), cutBody.GetProperty("retrieval_guard").GetProperty("answer").GetString()!.Trim());
    }

    [Fact]
    public async Task AClientThatLeavesMidStreamStopsItsGeneration()
    {
        var http = await server.ReadyClientAsync();
        var scheduler = server.Host.Scheduler;
        var before = scheduler.TokensGenerated;
        using (var cancel = new CancellationTokenSource())
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = JsonContent.Create(new
                {
                    stream = true, max_tokens = 400,
                    messages = new[] { new { role = "user", content = "Tell me a long story about the mill." } },
                }),
            };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel.Token));
            for (var events = 0; events < 3;)
                if ((await reader.ReadLineAsync(cancel.Token))!.StartsWith("data:", StringComparison.Ordinal))
                    events++;
            cancel.Cancel();
        }
        for (var i = 0; i < 200 && scheduler.Active > 0; i++)
            await Task.Delay(25);
        Assert.Equal(0, scheduler.Active);
        var made = scheduler.TokensGenerated - before;
        await Task.Delay(300);
        Assert.Equal(made, scheduler.TokensGenerated - before);
        Assert.True(made < 100, $"{made} tokens made for a client that left after 2");
    }
}

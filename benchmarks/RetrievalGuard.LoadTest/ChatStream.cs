using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RetrievalGuard.LoadTest;

internal enum Failure { None, Transport, TimedOut, StreamError }

/// <summary>What one streaming request got.</summary>
internal sealed class StreamOutcome
{
    /// <summary>HTTP status; null when no response came.</summary>
    public int? Status { get; set; }
    public Failure Failure { get; set; }
    public string? Error { get; set; }
    public int? RetryAfterS { get; set; }
    public double? TtftMs { get; set; }
    public double LatencyMs { get; set; }
    /// <summary>Content chunks: deltas with non-empty text (not the role chunk that opens a stream).</summary>
    public int Chunks { get; set; }
    /// <summary>A chunk with a finish_reason came.</summary>
    public bool Finished { get; set; }
    /// <summary>The final chunk's report risk, when it is a finite number.</summary>
    public double? Risk { get; set; }
    public bool Done { get; set; }
    /// <summary>The tool hung up on purpose after the chunks it wanted.</summary>
    public bool Aborted { get; set; }
    public bool AnswerHasNeedle { get; set; }
    public string AnswerText => Answer.ToString();

    [JsonIgnore]
    public StringBuilder Answer { get; } = new();

    [JsonIgnore]
    public bool Completed => Status == 200 && Failure == Failure.None && Done;
}

/// <summary>Sends chat completions with <c>stream: true</c> and reads their server-sent events.</summary>
internal static class ChatStream
{
    public static HttpClient CreateClient(int connections) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = connections,
        // Dispose an unread response by closing its connection, as a client that leaves does, instead of draining it.
        MaxResponseDrainSize = 0,
        ConnectTimeout = TimeSpan.FromSeconds(30),
    })
    {
        // The run's own limit cancels requests; HttpClient's 100 s default would cut long queues short.
        Timeout = Timeout.InfiniteTimeSpan,
    };

    /// <summary>Posts <paramref name="prompt"/>; with <paramref name="stopAfterChunks"/> > 0 hangs up after that many
    /// content chunks. Never throws for server or network trouble: that is recorded in the outcome.</summary>
    public static async Task<StreamOutcome> PostAsync(HttpClient http, Uri baseUrl, Prompt prompt, int stopAfterChunks,
        CancellationToken limit)
    {
        var outcome = new StreamOutcome();
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(baseUrl, "/v1/chat/completions"))
            {
                Content = new StringContent(prompt.Body, Encoding.UTF8, "application/json"),
            };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, limit);
            outcome.Status = (int)response.StatusCode;
            if (response.StatusCode == HttpStatusCode.OK)
                await ReadEventsAsync(response, outcome, started, stopAfterChunks, limit);
            else
            {
                outcome.RetryAfterS = (int?)response.Headers.RetryAfter?.Delta?.TotalSeconds;
                var text = await response.Content.ReadAsStringAsync(limit);
                outcome.Error = text.Length > 300 ? text[..300] : text;
            }
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested)
        {
            outcome.Failure = Failure.TimedOut;
        }
        catch (Exception error) when (error is HttpRequestException or IOException or OperationCanceledException)
        {
            outcome.Failure = Failure.Transport;
            outcome.Error = error.Message;
        }
        catch (JsonException error)
        {
            outcome.Failure = Failure.StreamError;
            outcome.Error = "Malformed event: " + error.Message;
        }
        outcome.LatencyMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (prompt.Needle is { } needle)
            outcome.AnswerHasNeedle = outcome.AnswerText.Contains(needle, StringComparison.Ordinal);
        return outcome;
    }

    private static async Task ReadEventsAsync(HttpResponseMessage response, StreamOutcome outcome, long started,
        int stopAfterChunks, CancellationToken limit)
    {
        await using var body = await response.Content.ReadAsStreamAsync(limit);
        using var reader = new StreamReader(body, Encoding.UTF8);
        while (await reader.ReadLineAsync(limit) is { } line)
        {
            // Blank lines separate events; other fields and comments carry nothing the tool needs.
            if (!line.StartsWith("data:", StringComparison.Ordinal))
                continue;
            var data = line[5..].Trim();
            if (data == "[DONE]")
            {
                outcome.Done = true;
                continue;
            }
            using var chunk = JsonDocument.Parse(data);
            Read(chunk.RootElement, outcome, started);
            if (stopAfterChunks > 0 && outcome.Chunks >= stopAfterChunks)
            {
                // Returning disposes the body unread, which closes the connection (MaxResponseDrainSize = 0).
                outcome.Aborted = true;
                return;
            }
        }
    }

    private static void Read(JsonElement root, StreamOutcome outcome, long started)
    {
        // A stream that already sent 200 reports a late failure as a data: {"error": ...} event.
        if (root.TryGetProperty("error", out var error))
        {
            outcome.Failure = Failure.StreamError;
            outcome.Error = error.ToString();
            return;
        }
        if (!root.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array
            || choices.GetArrayLength() == 0)
            return;
        var choice = choices[0];
        if (choice.TryGetProperty("delta", out var delta) && delta.TryGetProperty("content", out var content)
            && content.ValueKind == JsonValueKind.String && content.GetString() is { Length: > 0 } text)
        {
            outcome.TtftMs ??= Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            outcome.Chunks++;
            outcome.Answer.Append(text);
        }
        if (!choice.TryGetProperty("finish_reason", out var finish) || finish.ValueKind != JsonValueKind.String)
            return;
        outcome.Finished = true;
        if (root.TryGetProperty("retrieval_guard", out var guard) && guard.ValueKind == JsonValueKind.Object
            && guard.TryGetProperty("risk", out var risk) && risk.ValueKind == JsonValueKind.Number
            && double.IsFinite(risk.GetDouble()))
            outcome.Risk = risk.GetDouble();
    }
}

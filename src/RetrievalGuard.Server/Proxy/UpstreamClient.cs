using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;
using RetrievalGuard.Server.Api;

namespace RetrievalGuard.Server.Proxy;

/// <summary>
/// Proxy mode: forwards a chat request to the upstream OpenAI-compatible endpoint (non-streaming, without the
/// <c>retrieval_guard</c> field) through a resilience pipeline — a whole-request timeout, retries with jittered
/// exponential backoff on transient failures only (5xx, 408, 429, connection errors, attempt timeouts), a circuit
/// breaker and a per-attempt timeout — and maps what still fails to a clear 502/503/504.
/// </summary>
public sealed class UpstreamClient(HttpClient http, IOptions<ServerOptions> options)
{
    public const string PipelineName = "upstream";

    private readonly UpstreamSettings _settings = options.Value.Upstream;

    public bool IsEnabled => _settings.IsEnabled;

    /// <summary>Registers the typed client and its pipeline from <see cref="UpstreamSettings"/>.</summary>
    public static void Register(IServiceCollection services, UpstreamSettings settings)
    {
        services.AddHttpClient<UpstreamClient>(client =>
            {
                if (settings.IsEnabled)
                    client.BaseAddress = new Uri(settings.BaseUrl.TrimEnd('/') + "/");
                client.Timeout = Timeout.InfiniteTimeSpan; // the pipeline's timeouts rule
            })
            .AddResilienceHandler(PipelineName, pipeline =>
            {
                pipeline.AddTimeout(TimeSpan.FromSeconds(settings.TimeoutSeconds));
                pipeline.AddRetry(new HttpRetryStrategyOptions
                {
                    MaxRetryAttempts = Math.Max(0, settings.MaxRetries),
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    Delay = TimeSpan.FromMilliseconds(200),
                });
                pipeline.AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
                {
                    FailureRatio = settings.BreakerFailureRatio,
                    MinimumThroughput = 5,
                    SamplingDuration = TimeSpan.FromSeconds(30),
                    BreakDuration = TimeSpan.FromSeconds(settings.BreakerBreakSeconds),
                });
                pipeline.AddTimeout(TimeSpan.FromSeconds(settings.AttemptTimeoutSeconds));
            });
    }

    /// <summary>The upstream's answer text, model name and usage for the client's request body.</summary>
    public async Task<(string Text, string Model, JsonElement? Usage)> CompleteAsync(JsonElement body,
        CancellationToken cancellationToken)
    {
        JsonObject forwarded;
        try
        {
            forwarded = JsonNode.Parse(body.GetRawText())!.AsObject();
        }
        catch (InvalidOperationException)
        {
            throw ApiError.BadRequest("The body is not valid UTF-8.", code: "invalid_encoding");
        }
        forwarded.Remove("retrieval_guard");
        forwarded.Remove("stream_options");
        forwarded["stream"] = false;
        if (!forwarded.ContainsKey("model") && _settings.Model.Length > 0)
            forwarded["model"] = _settings.Model;
        using var message = new HttpRequestMessage(HttpMethod.Post, "chat/completions")
        {
            Content = new StringContent(forwarded.ToJsonString(), System.Text.Encoding.UTF8, "application/json"),
        };
        if (_settings.ApiKey.Length > 0)
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _settings.ApiKey);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(message, cancellationToken).ConfigureAwait(false);
        }
        catch (BrokenCircuitException)
        {
            var seconds = (int)Math.Ceiling(_settings.BreakerBreakSeconds);
            throw new ApiError(StatusCodes.Status503ServiceUnavailable,
                "The upstream model is failing; calls to it are paused (circuit open).", code: "upstream_unavailable",
                type: "server_error") { RetryAfterSeconds = Math.Max(1, seconds) };
        }
        catch (TimeoutRejectedException)
        {
            throw new ApiError(StatusCodes.Status504GatewayTimeout, "The upstream model did not answer in time.",
                code: "upstream_timeout", type: "server_error");
        }
        catch (HttpRequestException unreachable)
        {
            throw new ApiError(StatusCodes.Status502BadGateway,
                $"The upstream model could not be reached: {unreachable.Message}", code: "upstream_unreachable",
                type: "server_error");
        }
        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if ((int)response.StatusCode >= 500)
                throw new ApiError(StatusCodes.Status502BadGateway,
                    $"The upstream model failed with {(int)response.StatusCode} after retries.", code: "upstream_error",
                    type: "server_error");
            if (!response.IsSuccessStatusCode)
                throw UpstreamRefused((int)response.StatusCode, text);
            return Answer(text);
        }
    }

    /// <summary>The upstream refused the request itself (4xx): pass its status and message on.</summary>
    private static ApiError UpstreamRefused(int status, string body)
    {
        string message;
        try
        {
            message = JsonNode.Parse(body)?["error"]?["message"]?.GetValue<string>() ?? body;
        }
        catch (Exception error) when (error is JsonException or InvalidOperationException)
        {
            message = body;
        }
        return new ApiError(status, $"The upstream model refused the request: {message}", code: "upstream_refused");
    }

    private static (string, string, JsonElement?) Answer(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            var text = root.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString() ?? "";
            var model = root.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String
                ? m.GetString()! : "upstream";
            JsonElement? usage = root.TryGetProperty("usage", out var u) ? u.Clone() : null;
            return (text, model, usage);
        }
        catch (Exception error) when (error is JsonException or KeyNotFoundException or InvalidOperationException
                                          or IndexOutOfRangeException)
        {
            throw new ApiError(StatusCodes.Status502BadGateway,
                "The upstream model's answer is not an OpenAI chat completion.", code: "upstream_invalid",
                type: "server_error");
        }
    }
}

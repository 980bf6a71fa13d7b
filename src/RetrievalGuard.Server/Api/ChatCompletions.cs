using System.Text.Json;
using Microsoft.Extensions.Options;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Guard;
using RetrievalGuard.Guard.Serving;
using RetrievalGuard.Server.Hosting;
using RetrievalGuard.Server.Proxy;

namespace RetrievalGuard.Server.Api;

/// <summary>
/// <c>POST /v1/chat/completions</c>: the local model answers through the <see cref="GuardScheduler"/> (guarded when
/// the request has passages), or in proxy mode the upstream answers and the local model scores it. Streams as
/// OpenAI's server-sent events when asked; the report rides on the response's (or last chunk's)
/// <c>retrieval_guard</c>.
/// </summary>
internal static class ChatCompletions
{
    public static async Task HandleAsync(HttpContext context, ModelHost host, ServerMetrics metrics,
        IOptions<ServerOptions> options, UpstreamClient upstream)
    {
        var settings = options.Value;
        using var body = await RequestJson.ReadAsync(context.Request, settings.Limits.MaxBodyBytes,
            context.RequestAborted);
        var request = ChatRequest.Parse(body.RootElement, settings.Limits);
        var completion = new Completion(context, request, host.Guard.Calibration?.Threshold ?? 0.5);
        if (upstream.IsEnabled)
        {
            var (text, model, usage) = await upstream.CompleteAsync(body.RootElement, context.RequestAborted);
            GuardReport? report = null;
            if (request.IsGuarded)
                report = await host.Guard.ScoreAsync(request.Passages, request.Question!, text, context.RequestAborted);
            if (report is not null)
                metrics.Risk(report.Risk);
            await completion.WriteWholeAsync(model, text, report, usage);
            return;
        }
        if (request.Model is { } name && name != host.ModelId)
            throw new ApiError(StatusCodes.Status404NotFound,
                $"The model '{name}' does not exist here; this server serves '{host.ModelId}'.", "model",
                "model_not_found");
        var scheduler = host.Scheduler;
        var answer = new AnswerRequest
        {
            Passages = request.Passages,
            Question = request.Question,
            Turns = request.IsGuarded ? [] : request.Turns,
            MaxTokens = request.MaxTokens,
            Temperature = request.Temperature,
            TopP = request.TopP,
            Seed = request.Seed,
            Stop = request.Stop,
            Cache = request.Cache,
        };
        IAsyncEnumerable<GuardedToken> tokens;
        int promptTokens;
        try
        {
            tokens = scheduler.Submit(answer, out promptTokens, context.RequestAborted);
        }
        catch (SchedulerFullException full)
        {
            throw ApiError.Busy(full.Message, (int)Math.Ceiling(full.RetryAfter.TotalSeconds));
        }
        catch (UnsupportedCacheException unsupported)
        {
            throw ApiError.BadRequest($"{unsupported.Message.Split(" (Parameter")[0]} A server offers more with "
                + $"{ServerOptions.Section}:Serving:MoreCachePolicies.", "retrieval_guard.cache",
                "unsupported_cache_policy");
        }
        catch (ArgumentException invalid)
        {
            throw ApiError.BadRequest(invalid.Message.Split(" (Parameter")[0], "messages",
                invalid is ContextLengthException ? "context_length_exceeded" : "invalid_value");
        }
        var final = await completion.StreamOrCollectAsync(host.ModelId, promptTokens, tokens);
        if (final?.Report is { } guarded)
            metrics.Risk(guarded.Risk);
    }

    /// <summary>One response being written: whole (JSON) or streamed (server-sent events).</summary>
    private sealed class Completion(HttpContext context, ChatRequest request, double threshold)
    {
        private readonly string _id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        public async Task<GuardedToken?> StreamOrCollectAsync(string model, int promptTokens,
            IAsyncEnumerable<GuardedToken> tokens)
        {
            var text = new System.Text.StringBuilder();
            var logprobs = new List<object>();
            GuardedToken? last = null;
            var made = 0;
            if (request.Stream)
                await StartStreamAsync(model);
            await foreach (var token in tokens.WithCancellation(context.RequestAborted))
            {
                last = token;
                if (token.Id >= 0)
                    made++;
                var entry = token.Id >= 0 && request.LogProbs ? LogProb(token) : null;
                if (request.Stream)
                {
                    if (token.Text.Length > 0 || entry is not null)
                        await SendAsync(Chunk(model, new { content = token.Text }, null, entry is null ? null : [entry],
                            request.IsGuarded ? new { risk_so_far = ReportJson.Number(token.RiskSoFar) } : null));
                }
                else
                {
                    text.Append(token.Text);
                    if (entry is not null)
                        logprobs.Add(entry);
                }
            }
            var finish = last?.Finish == FinishReason.Length ? "length" : "stop";
            var guard = last?.Report is { } report ? ReportJson.Of(report, threshold) : null;
            var usage = new
            {
                prompt_tokens = promptTokens, completion_tokens = made, total_tokens = promptTokens + made,
            };
            if (request.Stream)
            {
                await SendAsync(Chunk(model, new { }, finish, null, guard));
                if (request.IncludeUsage)
                    await SendAsync(new
                    {
                        id = _id, @object = "chat.completion.chunk", created = _created, model,
                        choices = System.Array.Empty<object>(), usage,
                    });
                await DoneAsync();
            }
            else
            {
                await WriteJsonAsync(Whole(model, text.ToString(), finish, request.LogProbs ? logprobs : null, guard,
                    usage));
            }
            return last;
        }

        /// <summary>An answer that arrived whole (proxy mode): one JSON body, or a short stream when asked.</summary>
        public async Task WriteWholeAsync(string model, string text, GuardReport? report, JsonElement? usage)
        {
            var guard = report is null ? null : ReportJson.Of(report, threshold);
            if (!request.Stream)
            {
                await WriteJsonAsync(Whole(model, text, "stop", null, guard, usage));
                return;
            }
            await StartStreamAsync(model);
            await SendAsync(Chunk(model, new { content = text }, null, null, null));
            await SendAsync(Chunk(model, new { }, "stop", null, guard));
            await DoneAsync();
        }

        private object Whole(string model, string text, string finish, List<object>? logprobs, object? guard,
            object? usage) => new
        {
            id = _id,
            @object = "chat.completion",
            created = _created,
            model,
            choices = new[]
            {
                new
                {
                    index = 0,
                    message = new { role = "assistant", content = text },
                    logprobs = logprobs is null ? null : new { content = logprobs },
                    finish_reason = finish,
                },
            },
            usage,
            retrieval_guard = guard,
        };

        private object Chunk(string model, object delta, string? finish, object[]? logprobs, object? guard) => new
        {
            id = _id,
            @object = "chat.completion.chunk",
            created = _created,
            model,
            choices = new[]
            {
                new
                {
                    index = 0, delta, logprobs = logprobs is null ? null : new { content = logprobs },
                    finish_reason = finish,
                },
            },
            retrieval_guard = guard,
        };

        private static object LogProb(GuardedToken token) => new
        {
            token = token.Text,
            logprob = token.LogProb,
            bytes = System.Text.Encoding.UTF8.GetBytes(token.Text),
            top_logprobs = System.Array.Empty<object>(),
        };

        private async Task StartStreamAsync(string model)
        {
            var response = context.Response;
            response.ContentType = "text/event-stream";
            response.Headers.CacheControl = "no-cache";
            response.Headers["X-Accel-Buffering"] = "no";
            await SendAsync(Chunk(model, new { role = "assistant", content = "" }, null, null, null));
        }

        private async Task SendAsync(object chunk)
        {
            var json = JsonSerializer.Serialize(chunk, ReportJson.Options);
            await context.Response.WriteAsync($"data: {json}\n\n", context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
        }

        private async Task DoneAsync()
        {
            await context.Response.WriteAsync("data: [DONE]\n\n", context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
        }

        private async Task WriteJsonAsync(object value)
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(JsonSerializer.Serialize(value, ReportJson.Options),
                context.RequestAborted);
        }
    }
}

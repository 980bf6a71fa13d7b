using System.Text.Json;

namespace RetrievalGuard.Server.Api;

/// <summary>
/// A request the server refuses, answered in OpenAI's error schema
/// <c>{"error": {"message", "type", "param", "code"}}</c> with its HTTP status.
/// </summary>
public sealed class ApiError(int status, string message, string? param = null, string? code = null,
    string type = "invalid_request_error") : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;
    public string? Code { get; } = code;
    public string Type { get; } = type;

    /// <summary>Seconds to send as Retry-After (429, 503), or null.</summary>
    public int? RetryAfterSeconds { get; init; }

    public static ApiError BadRequest(string message, string? param = null, string? code = null) =>
        new(StatusCodes.Status400BadRequest, message, param, code);

    public static ApiError Busy(string message, int retryAfterSeconds, string code = "server_busy") =>
        new(StatusCodes.Status429TooManyRequests, message, null, code, "rate_limit_error")
        {
            RetryAfterSeconds = retryAfterSeconds,
        };

    /// <summary>
    /// Writes the error; on a stream that already sent its status, as a last <c>data: {"error": ...}</c> event
    /// (what OpenAI's streaming clients read as an error).
    /// </summary>
    public async Task WriteAsync(HttpContext context)
    {
        if (context.Response.HasStarted)
        {
            if (context.Response.ContentType == "text/event-stream" && !context.RequestAborted.IsCancellationRequested)
                await context.Response.WriteAsync($"data: {ToJson()}\n\n", context.RequestAborted)
                    .ConfigureAwait(false);
            return;
        }
        context.Response.Clear();
        context.Response.StatusCode = Status;
        if (RetryAfterSeconds is { } seconds)
            context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(ToJson(), context.RequestAborted).ConfigureAwait(false);
    }

    public string ToJson() => JsonSerializer.Serialize(new
    {
        error = new { message = Message, type = Type, param = Param, code = Code },
    }, ReportJson.Options);
}

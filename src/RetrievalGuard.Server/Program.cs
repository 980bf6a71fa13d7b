using System.Diagnostics;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using RetrievalGuard.Server;
using RetrievalGuard.Server.Api;
using RetrievalGuard.Server.Hosting;
using RetrievalGuard.Server.Mcp;
using RetrievalGuard.Server.Proxy;
using RetrievalGuard.Server.Security;
using Serilog;
using Serilog.Events;

if (args is ["healthcheck", ..])
    return await HealthCheck.RunAsync(args);

var builder = WebApplication.CreateBuilder(args);
var section = builder.Configuration.GetSection(ServerOptions.Section);
var settings = section.Get<ServerOptions>() ?? new ServerOptions();
if (settings.Problem() is { } problem)
{
    // A setting a person must fix: say which, without a host start-up stack trace.
    Console.Error.WriteLine($"error: {problem}");
    return 2;
}
builder.Services.Configure<ServerOptions>(section);

builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Limits.MaxRequestBodySize = settings.Limits.MaxBodyBytes;
    kestrel.AddServerHeader = false;
});
builder.Services.Configure<HostOptions>(host =>
    host.ShutdownTimeout = TimeSpan.FromSeconds(settings.Serving.ShutdownSeconds));
// Structured logs from the "Serilog" section; request logging records method, path, status and time, never bodies.
builder.Services.AddSerilog((services, logger) => logger.ReadFrom.Configuration(builder.Configuration)
    .Enrich.FromLogContext());

builder.Services.AddSingleton<ModelHost>();
builder.Services.AddHostedService(services => services.GetRequiredService<ModelHost>());
builder.Services.AddSingleton<ServerMetrics>();
builder.Services.AddSingleton(new ApiKeys(settings.ApiKeys));
UpstreamClient.Register(builder.Services, settings.Upstream);

const string PerClient = "per-client";
builder.Services.AddRateLimiter(limiter =>
{
    limiter.AddPolicy(PerClient, context => settings.RequestsPerMinute <= 0
        ? RateLimitPartition.GetNoLimiter("all")
        : RateLimitPartition.GetTokenBucketLimiter(context.Items[ApiKeys.ClientItem] as string ?? "anonymous",
            _ => new TokenBucketRateLimiterOptions
            {
                TokenLimit = settings.RequestsPerMinute,
                TokensPerPeriod = settings.RequestsPerMinute,
                ReplenishmentPeriod = TimeSpan.FromMinutes(1),
                QueueLimit = 0,
            }));
    limiter.OnRejected = (rejected, _) =>
    {
        var seconds = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var after)
            ? Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)) : 60;
        return new ValueTask(ApiError.Busy($"Rate limit: {settings.RequestsPerMinute} requests per minute per key.",
            seconds, "rate_limit_exceeded").WriteAsync(rejected.HttpContext));
    };
});

builder.Services.AddOpenTelemetry().WithMetrics(meters =>
{
    meters.AddMeter(ServerMetrics.MeterName).AddAspNetCoreInstrumentation().AddPrometheusExporter();
    // OTLP too when the standard variable points at a collector.
    if (!string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        meters.AddOtlpExporter();
});
builder.Services.AddMcpServer().WithHttpTransport(http => http.Stateless = true).WithTools<GuardTools>();

var app = builder.Build();
// Instruments exist from the start, so the first scrape already lists them (resolved lazily, they would appear only
// after the first API request).
app.Services.GetRequiredService<ServerMetrics>();

app.UseSerilogRequestLogging(logging => logging.GetLevel = (context, _, error) =>
    // Probes poll: a loading model's 503 on /readyz is expected, not an error.
    context.Request.Path.StartsWithSegments("/healthz") || context.Request.Path.StartsWithSegments("/readyz")
        ? LogEventLevel.Debug
        : error is not null || context.Response.StatusCode >= 500 ? LogEventLevel.Error : LogEventLevel.Information);
app.Use(HandleErrorsAsync);
app.UseStatusCodePages(async pages =>
{
    // Unknown routes and wrong methods answer in OpenAI's error schema too.
    var context = pages.HttpContext;
    if (context.Response.ContentType is null)
        await new ApiError(context.Response.StatusCode, context.Response.StatusCode switch
        {
            StatusCodes.Status404NotFound => $"No route {context.Request.Method} {context.Request.Path}.",
            StatusCodes.Status405MethodNotAllowed =>
                $"{context.Request.Method} is not allowed on {context.Request.Path}.",
            var status => $"HTTP {status}.",
        }, code: context.Response.StatusCode == 404 ? "not_found" : "method_not_allowed").WriteAsync(context);
});
app.UseDefaultFiles();
app.UseStaticFiles();
app.Use(app.Services.GetRequiredService<ApiKeys>().InvokeAsync);
app.UseRateLimiter();

// Live while the model loads; 503 once loading has failed for good, so an orchestrator restarts or reports it.
app.MapGet("/healthz", (ModelHost host) => host.Failure is null
    ? Results.Json(new { status = "live" })
    : Results.Json(new { status = "failed", reason = host.Failure },
        statusCode: StatusCodes.Status503ServiceUnavailable));
app.MapGet("/readyz", (ModelHost host) => host.IsReady
    ? Results.Json(new { status = "ready", model = host.ModelId })
    : Results.Json(new { status = host.Failure is null ? "loading" : "failed", reason = host.Failure },
        statusCode: StatusCodes.Status503ServiceUnavailable));
app.MapPrometheusScrapingEndpoint("/metrics");

var api = app.MapGroup("/v1").RequireRateLimiting(PerClient);
api.MapGet("/models", (ModelHost host) => Results.Json(new
{
    @object = "list",
    data = new[] { new { id = host.ModelId, @object = "model", created = 0, owned_by = "retrievalguard" } },
}));
api.MapPost("/chat/completions", ChatCompletions.HandleAsync);
api.MapPost("/guard/score", GuardScore.HandleAsync);
app.MapMcp("/mcp").RequireRateLimiting(PerClient);

await app.RunAsync();
return 0;

// Every failure becomes OpenAI's error schema with its status; unexpected ones are logged and answered 500.
async Task HandleErrorsAsync(HttpContext context, RequestDelegate next)
{
    var started = Stopwatch.GetTimestamp();
    try
    {
        await next(context);
    }
    catch (ApiError error)
    {
        await error.WriteAsync(context);
    }
    catch (BadHttpRequestException bad)
    {
        await new ApiError(bad.StatusCode, bad.Message, code: "bad_request").WriteAsync(context);
    }
    catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
    {
        // The client left: its answer was abandoned and its row freed; nothing to send.
    }
    catch (Exception error)
    {
        app.Logger.LogError(error, "Request {Method} {Path} failed", context.Request.Method, context.Request.Path);
        await new ApiError(StatusCodes.Status500InternalServerError, "The server failed on this request; see its log.",
            code: "server_error", type: "server_error").WriteAsync(context);
    }
    finally
    {
        if (ApiKeys.IsProtected(context.Request.Path))
            context.RequestServices.GetRequiredService<ServerMetrics>().Request(
                // The route pattern, not the path: clients choose paths, and metrics must not grow with them.
                (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched",
                context.Response.StatusCode,
                Stopwatch.GetElapsedTime(started).TotalSeconds);
    }
}

/// <summary>The entry point's type, for WebApplicationFactory in the tests.</summary>
public partial class Program;

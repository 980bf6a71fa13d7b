using Microsoft.Extensions.Options;
using RetrievalGuard.Engine;
using RetrievalGuard.Guard;
using RetrievalGuard.Guard.Serving;
using RetrievalGuard.Server.Api;

namespace RetrievalGuard.Server.Hosting;

/// <summary>
/// Loads the model and its guard in the background when the server starts (so /healthz answers at once and
/// /readyz once it is loaded), owns the <see cref="GuardScheduler"/>, and on shutdown lets running answers finish
/// within the host's shutdown timeout before freeing the model.
/// </summary>
public sealed class ModelHost(IOptions<ServerOptions> options, ILogger<ModelHost> logger)
    : IHostedService, IAsyncDisposable
{
    private readonly ServerOptions _options = options.Value;
    private Task? _loading;
    private Loaded? _loaded;
    private Exception? _failure;

    private sealed record Loaded(LanguageModel Model, HallucinationGuard Guard, GuardScheduler Scheduler, string Id);

    public bool IsReady => _loaded is not null;

    /// <summary>Why loading failed, or null.</summary>
    public string? Failure => _failure?.Message;

    public string ModelId => _loaded?.Id ?? ConfiguredId();

    public HallucinationGuard Guard => Current.Guard;

    public GuardScheduler Scheduler => Current.Scheduler;

    private Loaded Current => _loaded ?? throw (_failure is null
        ? new ApiError(StatusCodes.Status503ServiceUnavailable, "The model is still loading.", code: "model_loading",
            type: "server_error") { RetryAfterSeconds = 5 }
        : new ApiError(StatusCodes.Status503ServiceUnavailable, $"The model failed to load: {_failure.Message}",
            code: "model_unavailable", type: "server_error"));

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_options.Problem() is { } problem)
            throw new InvalidOperationException(problem);
        _loading = Task.Run(Load, CancellationToken.None);
        return Task.CompletedTask;
    }

    /// <summary>Waits for the background load (tests and tools; requests never wait, they get 503).</summary>
    public Task WhenLoaded => _loading ?? Task.CompletedTask;

    private void Load()
    {
        try
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            var settings = _options.Model;
            var model = LanguageModel.Load(settings.Path,
                new LoadOptions { Device = settings.Device, DType = settings.DType });
            // What the checkpoint's files disagree on (BOS/EOS ids), said once, as the CLI does.
            foreach (var note in model.Notes)
                logger.LogWarning("Model {Path}: {Note}", settings.Path, note);
            var guard = HallucinationGuard.ForModel(model, Empty(settings.HeadMap), Empty(settings.Calibration));
            var scheduler = new GuardScheduler(guard, new SchedulerOptions
            {
                MaxSequences = _options.Serving.MaxSequences,
                Cache = _options.Serving.Policy(guard.Map),
                MoreCaches = _options.Serving.MorePolicies(guard.Map),
                BatchPrefills = _options.Serving.BatchPrefills,
                KvBudgetBytes = (long)(_options.Serving.KvBudgetMiB * 1048576),
                CapacityPerSequence = _options.Serving.CapacityPerSequence,
                MaxQueued = _options.Serving.MaxQueued,
                MaxPassages = _options.Limits.MaxPassages,
            });
            _loaded = new Loaded(model, guard, scheduler, ConfiguredId());
            logger.LogInformation(
                "Model {ModelId} loaded on {Device} in {Seconds:F1} s: {Heads} watched heads, calibrated {Calibrated}, "
                + "{Rows} rows x {Capacity} positions ({CacheMiB:F1} MiB KV cache; {CachePolicies})", ModelId,
                settings.Device, started.Elapsed.TotalSeconds, guard.Heads.Count, guard.Calibration is not null,
                scheduler.MaxSequences, scheduler.CapacityPerSequence, scheduler.CacheBytes / 1048576.0,
                string.Join("; ", scheduler.Caches.Select(c => $"{c.Policy}: {c.Rows} row{(c.Rows == 1 ? "" : "s")}")));
        }
        catch (Exception error)
        {
            _failure = error;
            logger.LogError(error, "The model in {Path} failed to load", _options.Model.Path);
        }
    }

    private string ConfiguredId() => _options.Model.Id is { Length: > 0 } id
        ? id
        : Path.GetFileName(Path.TrimEndingDirectorySeparator(_options.Model.Path));

    private static string? Empty(string value) => string.IsNullOrWhiteSpace(value) ? null : value;

    /// <summary>Graceful shutdown: running and queued answers finish unless the host's timeout fires first.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_loading is not null)
            await _loading.ConfigureAwait(false);
        if (_loaded is { } loaded)
            await loaded.Scheduler.StopAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_loading is not null)
            await _loading.ConfigureAwait(false);
        if (_loaded is { } loaded)
        {
            await loaded.Scheduler.DisposeAsync().ConfigureAwait(false);
            loaded.Model.Dispose();
            _loaded = null;
        }
    }
}

using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RetrievalGuard.Server.Hosting;

/// <summary>
/// The server's OpenTelemetry instruments (meter <see cref="MeterName"/>): requests and their latency per endpoint
/// and status, answer risks, and the scheduler's queue depth, active answers, tokens and KV cache bytes. Tokens/s is
/// the rate of <c>rguard.tokens.generated</c>.
/// </summary>
public sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "RetrievalGuard.Server";

    private readonly Meter _meter;
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _risk;

    public ServerMetrics(IMeterFactory meters, ModelHost host)
    {
        _meter = meters.Create(MeterName);
        _requests = _meter.CreateCounter<long>("rguard.requests",
            description: "Requests served, by endpoint and status");
        _duration = _meter.CreateHistogram<double>("rguard.request.duration", "s",
            "Time to the last byte of a request");
        _risk = _meter.CreateHistogram<double>("rguard.risk", description: "Hallucination risk of guarded answers",
            advice: new InstrumentAdvice<double>
            {
                HistogramBucketBoundaries = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
            });
        _meter.CreateObservableCounter("rguard.tokens.generated",
            () => host.IsReady ? host.Scheduler.TokensGenerated : 0,
            description: "Tokens decoded by the local model");
        _meter.CreateObservableGauge("rguard.queue.depth", () => host.IsReady ? host.Scheduler.Queued : 0,
            description: "Requests waiting for a row");
        _meter.CreateObservableGauge("rguard.sequences.active", () => host.IsReady ? host.Scheduler.Active : 0,
            description: "Answers being decoded");
        _meter.CreateObservableGauge("rguard.kv_cache.bytes", () => host.IsReady ? host.Scheduler.CacheBytes : 0, "By",
            "KV cache held on the device");
    }

    public void Request(string endpoint, int status, double seconds)
    {
        var tags = new TagList { { "endpoint", endpoint }, { "status", status } };
        _requests.Add(1, tags);
        _duration.Record(seconds, tags);
    }

    public void Risk(double risk)
    {
        if (double.IsFinite(risk))
            _risk.Record(risk);
    }

    public void Dispose() => _meter.Dispose();
}

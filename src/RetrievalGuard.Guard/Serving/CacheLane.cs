using System.Collections.Concurrent;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Probes;

namespace RetrievalGuard.Guard.Serving;

/// <summary>
/// The rows of a <see cref="GuardScheduler"/> under one KV cache policy: their decoder (one preallocated cache), the
/// probe that labels each row with its passages, the requests waiting for one of them and the answers on them.
/// </summary>
internal sealed class CacheLane(BatchDecoder decoder, AttentionProbe probe) : IDisposable
{
    public BatchDecoder Decoder { get; } = decoder;

    public AttentionProbe Probe { get; } = probe;

    public KvCachePolicy Policy => Decoder.Policy;

    public ConcurrentQueue<ScheduledAnswer> Queue { get; } = new();

    /// <summary>The answers on rows, by their decoder sequence (what a step reports).</summary>
    public Dictionary<BatchSequence, ScheduledAnswer> Running { get; } = [];

    public bool IsIdle => Running.Count == 0 && Queue.IsEmpty;

    public void Dispose()
    {
        Decoder.Dispose();
        Probe.Dispose();
    }
}

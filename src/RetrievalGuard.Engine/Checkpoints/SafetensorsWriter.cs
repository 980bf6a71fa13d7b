using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using RetrievalGuard.Engine.Native;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Checkpoints;

/// <summary>
/// Writes safetensors files as the reference library does (header padded with spaces to 8 bytes, tensors in name
/// order), one tensor at a time to a temporary file that is renamed at the end; and sharded checkpoints in HF layout.
/// </summary>
public static class SafetensorsWriter
{
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        TorchRuntime.EnsureInitialized();
        var ordered = tensors.OrderBy(t => t.Key, StringComparer.Ordinal).ToList();
        var duplicate = ordered.GroupBy(t => t.Key).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new ArgumentException($"Tensor name '{duplicate.Key}' is given twice.", nameof(tensors));
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
            header["__metadata__"] =
                new JsonObject(metadata.Select(m => KeyValuePair.Create(m.Key, (JsonNode?)m.Value)));
        long offset = 0;
        foreach (var (name, t) in ordered)
        {
            long bytes = t.NumberOfElements * t.ElementSize;
            header[name] = new JsonObject
            {
                ["dtype"] = SafetensorsDType.NameOf(t.dtype),
                ["shape"] = new JsonArray(t.shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
        int padded = (json.Length + 7) / 8 * 8;
        string temp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                stream.Write(BitConverter.GetBytes((ulong)padded));
                stream.Write(json);
                for (int i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');
                foreach (var (_, t) in ordered)
                {
                    using var scope = NewDisposeScope();
                    var host = t.detach().cpu().contiguous();
                    if (host.NumberOfElements * host.ElementSize <= int.MaxValue) stream.Write(host.bytes);
                    else
                        for (long row = 0, step = Math.Max(1,
                                (1L << 30) / (host.NumberOfElements * host.ElementSize / host.shape[0]));
                            row < host.shape[0]; row += step)
                            stream.Write(host.narrow(0, row, Math.Min(step, host.shape[0] - row)).contiguous().bytes);
                }
            }
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>
    /// Writes model-0000N-of-0000M.safetensors shards of at most <paramref name="maxShardBytes"/> plus the index.
    /// </summary>
    public static void WriteSharded(string directory, IEnumerable<KeyValuePair<string, Tensor>> tensors,
        long maxShardBytes, IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (maxShardBytes <= 0)
            throw new ArgumentOutOfRangeException(nameof(maxShardBytes), "Shard size must be positive.");
        Directory.CreateDirectory(directory);
        var shards = new List<List<KeyValuePair<string, Tensor>>> { new() };
        long current = 0, total = 0;
        foreach (var t in tensors.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            long bytes = t.Value.NumberOfElements * t.Value.ElementSize;
            if (current > 0 && current + bytes > maxShardBytes) { shards.Add(new()); current = 0; }
            shards[^1].Add(t);
            current += bytes;
            total += bytes;
        }
        var weightMap = new JsonObject();
        for (int i = 0; i < shards.Count; i++)
        {
            string name = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            Write(Path.Combine(directory, name), shards[i], metadata);
            foreach (var t in shards[i]) weightMap[t.Key] = name;
        }
        var index = new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = weightMap
        };
        File.WriteAllText(Path.Combine(directory, Checkpoint.IndexFileName),
            index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}

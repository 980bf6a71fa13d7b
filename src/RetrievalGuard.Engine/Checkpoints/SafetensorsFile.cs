using System.Text.Json;
using RetrievalGuard.Engine.Native;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Checkpoints;

/// <summary>One tensor's header entry: dtype, shape and byte range within the data section.</summary>
public sealed record TensorEntry(string Name, string DType, ScalarType ScalarType, long[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// Reads a .safetensors file: 8-byte little-endian header length, a JSON header, then the data. Every header fact is
/// checked before any data is touched. Tensors are streamed from the file into their own CPU tensor one at a time, so
/// loading a model never holds the file's bytes twice.
/// </summary>
public sealed class SafetensorsFile : ITensorSource, IDisposable
{
    private const long MaxHeaderBytes = 100L << 20;
    private readonly FileStream _stream;
    private readonly Dictionary<string, TensorEntry> _entries;
    private readonly long _dataStart;

    private SafetensorsFile(string path, FileStream stream, Dictionary<string, TensorEntry> entries,
        Dictionary<string, string> metadata, long dataStart)
    {
        Location = path;
        _stream = stream;
        _entries = entries;
        Metadata = metadata;
        _dataStart = dataStart;
    }

    public string Location { get; }
    public IReadOnlyDictionary<string, TensorEntry> Tensors => _entries;
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IEnumerable<string> Names => _entries.Keys;

    public bool Contains(string name) => _entries.ContainsKey(name);

    public long[] ShapeOf(string name) => Entry(name).Shape;

    public TensorEntry Entry(string name) => _entries.TryGetValue(name, out var e) ? e
        : throw new KeyNotFoundException($"{Location}: no tensor named '{name}'.");

    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Safetensors file '{path}' does not exist.", path);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 20);
        try
        {
            var (entries, metadata, dataStart) = ReadHeader(path, stream);
            return new SafetensorsFile(path, stream, entries, metadata, dataStart);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>A fresh contiguous CPU tensor with the stored dtype and shape.</summary>
    public Tensor Read(string name)
    {
        var entry = Entry(name);
        TorchRuntime.EnsureInitialized();
        var result = empty(entry.Shape, dtype: entry.ScalarType);
        long bytes = entry.End - entry.Begin;
        if (bytes == 0) return result;
        lock (_stream)
        {
            _stream.Position = _dataStart + entry.Begin;
            if (bytes <= int.MaxValue) ReadExactly(result.bytes, entry);
            else ReadInRowChunks(result, entry);
        }
        return result;
    }

    // Span-based access is limited to 2 GiB, which one fp32 embedding of a 7B model exceeds: fill it in row blocks.
    private void ReadInRowChunks(Tensor result, TensorEntry entry)
    {
        long rowBytes = (entry.End - entry.Begin) / entry.Shape[0];
        long rowsPerChunk = Math.Max(1, (1L << 30) / rowBytes);
        using var scope = NewDisposeScope();
        for (long row = 0; row < entry.Shape[0]; row += rowsPerChunk)
        {
            long rows = Math.Min(rowsPerChunk, entry.Shape[0] - row);
            var chunk = empty([rows, .. entry.Shape[1..]], dtype: entry.ScalarType);
            ReadExactly(chunk.bytes, entry);
            result.narrow(0, row, rows).copy_(chunk);
            chunk.Dispose();
        }
    }

    private void ReadExactly(Span<byte> destination, TensorEntry entry)
    {
        int read = 0;
        while (read < destination.Length)
        {
            int n = _stream.Read(destination[read..]);
            if (n == 0) throw new InvalidDataException($"{Location}: the file ended inside tensor '{entry.Name}'.");
            read += n;
        }
    }

    private static (Dictionary<string, TensorEntry>, Dictionary<string, string>, long) ReadHeader(string path,
        FileStream stream)
    {
        long fileLength = stream.Length;
        if (fileLength < 8)
            throw new InvalidDataException(
                $"{path}: {fileLength} bytes is too short for a safetensors file (no 8-byte header length).");
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        ulong headerLength = BitConverter.ToUInt64(lengthBytes);
        if (headerLength > MaxHeaderBytes || (long)headerLength > fileLength - 8)
            throw new InvalidDataException($"{path}: header length {headerLength} is larger than "
                + $"{(headerLength > MaxHeaderBytes ? "100 MB" : $"the rest of the file ({fileLength - 8} bytes)")}: "
                + "not a safetensors file, or truncated.");
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        long dataStart = 8 + (long)headerLength, dataLength = fileLength - dataStart;

        // System.Text.Json parses invalid UTF-8 inside strings and only fails (InvalidOperationException) when a
        // name or value is read, so the header's encoding is checked first.
        try { StrictUtf8.GetCharCount(header); }
        catch (System.Text.DecoderFallbackException e)
        {
            throw new InvalidDataException($"{path}: the header is not UTF-8 text ({e.Message}).", e);
        }
        JsonDocument document;
        try { document = JsonDocument.Parse(header); }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: the header is not valid JSON ({e.Message}).", e);
        }
        using var _ = document;
        try { return ParseHeader(path, document, dataStart, dataLength); }
        catch (InvalidOperationException e)
        {
            // An escaped lone surrogate ("\ud800") in a name or string: valid JSON, but not text that can be read.
            throw new InvalidDataException(
                $"{path}: the header holds a string that is not valid text ({e.Message}).", e);
        }
    }

    private static readonly System.Text.UTF8Encoding StrictUtf8 =
        new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static (Dictionary<string, TensorEntry>, Dictionary<string, string>, long) ParseHeader(string path,
        JsonDocument document, long dataStart, long dataLength)
    {
        if (document.RootElement.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{path}: the header is not a JSON object.");

        var entries = new Dictionary<string, TensorEntry>(StringComparer.Ordinal);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            if (property.Name == "__metadata__")
            {
                if (property.Value.ValueKind != JsonValueKind.Object)
                    throw new InvalidDataException($"{path}: __metadata__ is not an object.");
                foreach (var m in property.Value.EnumerateObject())
                    metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String
                        ? m.Value.GetString()!
                        : throw new InvalidDataException($"{path}: metadata '{m.Name}' is not a string.");
                continue;
            }
            if (entries.ContainsKey(property.Name))
                throw new InvalidDataException($"{path}: tensor '{property.Name}' appears twice in the header.");
            entries[property.Name] = ParseEntry(path, property.Name, property.Value, dataLength);
        }
        CheckNoOverlap(path, entries.Values);
        return (entries, metadata, dataStart);
    }

    private static TensorEntry ParseEntry(string path, string name, JsonElement e, long dataLength)
    {
        string where = $"{path}: tensor '{name}'";
        if (e.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{where} is not described by an object.");
        if (!e.TryGetProperty("dtype", out var dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new InvalidDataException($"{where} has no dtype.");
        string dtype = dtypeElement.GetString()!;
        if (!SafetensorsDType.TryParse(dtype, out var scalarType, out int size))
            throw new InvalidDataException(
                $"{where} has dtype '{dtype}', which is not supported ({string.Join(", ", SafetensorsDType.Names)}).");
        long[] shape = ReadIntegers(e, "shape", where);
        if (shape.Any(d => d < 0))
            throw new InvalidDataException(
                $"{where} has a negative dimension in shape [{string.Join(", ", shape)}].");
        long[] offsets = ReadIntegers(e, "data_offsets", where);
        if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0])
            throw new InvalidDataException($"{where} has data_offsets [{string.Join(", ", offsets)}]; "
                + "expected [begin, end] with 0 ≤ begin ≤ end.");
        if (offsets[1] > dataLength)
            throw new InvalidDataException($"{where} ends at byte {offsets[1]} of the data section, "
                + $"which has only {dataLength} bytes (truncated file?).");
        long elements;
        try { elements = checked(shape.Aggregate(1L, (a, b) => checked(a * b)) * size) / size; }
        catch (OverflowException)
        {
            // Without this, a shape like [2^62, 4] left the loader as a bare OverflowException.
            throw new InvalidDataException(
                $"{where}: shape [{string.Join(", ", shape)}] × {dtype} is more bytes than a file can hold.");
        }
        if (elements * size != offsets[1] - offsets[0])
            throw new InvalidDataException(
                $"{where}: shape [{string.Join(", ", shape)}] × {dtype} ({size} bytes) = {elements * size} bytes, "
                + $"but its byte range holds {offsets[1] - offsets[0]}.");
        return new TensorEntry(name, dtype, scalarType, shape, offsets[0], offsets[1]);
    }

    private static long[] ReadIntegers(JsonElement e, string property, string where)
    {
        if (!e.TryGetProperty(property, out var array) || array.ValueKind != JsonValueKind.Array)
            throw new InvalidDataException($"{where} has no '{property}' array.");
        return array.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long x) ? x
            : throw new InvalidDataException($"{where}: '{property}' holds {v}, which is not an integer.")).ToArray();
    }

    private static void CheckNoOverlap(string path, IEnumerable<TensorEntry> entries)
    {
        TensorEntry? previous = null;
        foreach (var e in entries.Where(e => e.End > e.Begin).OrderBy(e => e.Begin))
        {
            if (previous is not null && e.Begin < previous.End)
                throw new InvalidDataException(
                    $"{path}: tensors '{previous.Name}' and '{e.Name}' overlap (bytes {e.Begin}..{previous.End}).");
            previous = e;
        }
    }

    public void Dispose() => _stream.Dispose();
}

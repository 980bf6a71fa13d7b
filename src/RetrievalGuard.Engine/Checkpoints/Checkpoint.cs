using System.Text.Json;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Checkpoints;

/// <summary>
/// The weights of a Hugging Face checkpoint folder: <c>model.safetensors</c>, or the shards named by
/// <c>model.safetensors.index.json</c>. Shards are opened once and read tensor by tensor.
/// </summary>
public sealed class Checkpoint : ITensorSource, IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";
    private readonly Dictionary<string, SafetensorsFile> _fileByTensor;
    private readonly List<SafetensorsFile> _files;

    private Checkpoint(string directory, List<SafetensorsFile> files, Dictionary<string, SafetensorsFile> fileByTensor)
    {
        Location = directory;
        _files = files;
        _fileByTensor = fileByTensor;
    }

    public string Location { get; }
    public IEnumerable<string> Names => _fileByTensor.Keys;
    public IReadOnlyList<string> Files => _files.Select(f => f.Location).ToList();

    public bool Contains(string name) => _fileByTensor.ContainsKey(name);

    public TensorEntry Entry(string name) => FileOf(name).Entry(name);

    public long[] ShapeOf(string name) => Entry(name).Shape;

    public Tensor Read(string name) => FileOf(name).Read(name);

    private SafetensorsFile FileOf(string name) => _fileByTensor.TryGetValue(name, out var file) ? file
        : throw new KeyNotFoundException($"{Location}: the checkpoint has no tensor named '{name}'.");

    public static Checkpoint Open(string directory)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Model folder '{directory}' does not exist.");
        string index = Path.Combine(directory, IndexFileName), single = Path.Combine(directory, SingleFileName);
        if (File.Exists(index)) return OpenSharded(directory, index);
        if (File.Exists(single))
        {
            var file = SafetensorsFile.Open(single);
            return new Checkpoint(directory, [file],
                file.Names.ToDictionary(n => n, _ => file, StringComparer.Ordinal));
        }
        string hint = Directory.EnumerateFiles(directory, "*.bin").Any()
                || Directory.EnumerateFiles(directory, "*.pth").Any()
            ? " It has PyTorch pickle weights (.bin/.pth), which are not supported: convert them to safetensors." : "";
        throw new FileNotFoundException($"{directory} has neither {SingleFileName} nor {IndexFileName}.{hint}");
    }

    private static Checkpoint OpenSharded(string directory, string indexPath)
    {
        Dictionary<string, string> weightMap;
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(indexPath));
            if (!document.RootElement.TryGetProperty("weight_map", out var map)
                || map.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"{indexPath}: no 'weight_map' object.");
            weightMap = map.EnumerateObject().ToDictionary(p => p.Name,
                p => p.Value.ValueKind == JsonValueKind.String
                    ? p.Value.GetString()!
                    : throw new InvalidDataException($"{indexPath}: weight_map['{p.Name}'] is not a file name."),
                StringComparer.Ordinal);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{indexPath}: not valid JSON ({e.Message}).", e);
        }
        var files = new List<SafetensorsFile>();
        try
        {
            var byName = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            foreach (string shard in weightMap.Values.Distinct())
            {
                if (shard.Contains('/') || shard.Contains('\\') || shard.Contains(".."))
                    throw new InvalidDataException(
                        $"{indexPath}: shard name '{shard}' must be a file in the same folder.");
                string path = Path.Combine(directory, shard);
                if (!File.Exists(path))
                    throw new FileNotFoundException(
                        $"{indexPath} names shard '{shard}', which is not in {directory}.", path);
                var file = SafetensorsFile.Open(path);
                files.Add(file);
                byName[shard] = file;
            }
            var fileByTensor = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            foreach (var (tensor, shard) in weightMap)
            {
                if (!byName[shard].Contains(tensor))
                    throw new InvalidDataException(
                        $"{indexPath} places '{tensor}' in {shard}, which does not contain it.");
                fileByTensor[tensor] = byName[shard];
            }
            foreach (var file in files)
                foreach (string name in file.Names)
                    if (fileByTensor.TryGetValue(name, out var owner) && owner != file)
                        throw new InvalidDataException($"Tensor '{name}' is stored in both "
                            + $"{Path.GetFileName(owner.Location)} and {Path.GetFileName(file.Location)}.");
            return new Checkpoint(directory, files, fileByTensor);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }
}

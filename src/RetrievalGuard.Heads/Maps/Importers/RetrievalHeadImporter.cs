using System.Text.Json;
using System.Text.Json.Nodes;

namespace RetrievalGuard.Heads.Maps.Importers;

/// <summary>
/// Imports nightdessert/Retrieval_Head's <c>head_score/*.json</c>: <c>{"L-H": [score per test, …]}</c>. The file does
/// not say which model it is for, so the caller gives the shape. Retrieval_Head has no license: users import their
/// own copies; the project ships none.
/// </summary>
public static class RetrievalHeadImporter
{
    public static HeadMap Import(string path, HeadMapModel model, double threshold = 0.1)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Retrieval_Head score file '{path}' does not exist.", path);
        JsonObject json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new InvalidDataException($"{path}: not a JSON object of \"layer-head\": [scores].");
        }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).", e); }
        if (json.Count == 0) throw new InvalidDataException($"{path}: holds no heads.");
        var scores = Enumerable.Range(0, model.Layers).Select(_ => new double[model.Heads]).ToArray();
        var tests = Enumerable.Range(0, model.Layers).Select(_ => new int[model.Heads]).ToArray();
        var activation = Enumerable.Range(0, model.Layers).Select(_ => new double[model.Heads]).ToArray();
        foreach (var (key, value) in json)
        {
            string[] parts = key.Split('-');
            if (parts.Length != 2 || !int.TryParse(parts[0], out int layer) || !int.TryParse(parts[1], out int head))
                throw new InvalidDataException($"{path}: key '{key}' is not of the form LAYER-HEAD.");
            if (layer < 0 || layer >= model.Layers || head < 0 || head >= model.Heads)
                throw new InvalidDataException(
                    $"{path}: head {key} is outside the model ({model.Layers} layers × {model.Heads} heads).");
            if (value is not JsonArray list || list.Count == 0)
                throw new InvalidDataException($"{path}: '{key}' must be a non-empty list of per-test scores.");
            var values = list.Select(v => v is JsonValue n && n.TryGetValue(out double d) && double.IsFinite(d) ? d
                : throw new InvalidDataException(
                    $"{path}: '{key}' holds {v?.ToJsonString() ?? "null"}, which is not a number.")).ToArray();
            scores[layer][head] = values.Average();
            tests[layer][head] = values.Length;
            activation[layer][head] = values.Count(v => v > 0) / (double)values.Length;
        }
        var method = new HeadMapMethod("retrieval-head-import", threshold, Source: Path.GetFileName(path),
            Notes: "Imported from nightdessert/Retrieval_Head head_score "
                + "(mean copy-paste score per head over its tests).");
        return new HeadMap(model, method, HeadGranularity.QueryHead, scores, tests, activation);
    }
}

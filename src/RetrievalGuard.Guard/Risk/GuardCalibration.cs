using System.Text.Json;
using System.Text.Json.Nodes;
using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Guard.Risk;

/// <summary>One scoring method's calibrator: the guard's own, or a baseline's fitted on the same data.</summary>
public sealed record CalibratedMethod(string Name, IRiskModel Model);

/// <summary>
/// The guard's calibration for one model: calibrators (gradient-boosted trees or logistic regressions, see
/// <see cref="CalibratorKind"/>) from answer-level features to the probability that an answer is hallucinated, fitted
/// on labelled answers of text the evaluation never uses (`rguard guard fit`), saved as a versioned file beside the
/// head map and bound to the model's fingerprint (refused for any other model). Baselines' calibrators ride along, so
/// that `rguard eval` compares every method through the same calibration.
/// </summary>
public sealed partial class GuardCalibration
{
    public const string FormatName = "retrievalguard.calibration";
    /// <summary>Version 2 names each calibrator's <c>type</c>; version 1 files (logistic only) still load.</summary>
    public const int CurrentVersion = 2;
    public const string FileSuffix = ".calibration.json";
    public const string GuardMethod = "retrievalguard";

    public GuardCalibration(HeadMapModel model, IReadOnlyList<CalibratedMethod> methods, double threshold,
        JsonObject? fit = null, string? created = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(methods);
        if (!methods.Any(m => m.Name == GuardMethod))
            throw new ArgumentException($"A calibration needs the '{GuardMethod}' method.", nameof(methods));
        if (!(threshold is > 0 and < 1))
            throw new ArgumentOutOfRangeException(nameof(threshold), threshold,
                "The flag threshold is a probability in (0, 1).");
        Model = model;
        Methods = methods;
        Threshold = threshold;
        Fit = fit ?? new JsonObject();
        Created = created ?? DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
    }

    public HeadMapModel Model { get; }

    public IReadOnlyList<CalibratedMethod> Methods { get; }

    /// <summary>Risk at or above which an answer or span is flagged.</summary>
    public double Threshold { get; }

    /// <summary>How the calibration was fitted: data, counts, cross-validated figures.</summary>
    public JsonObject Fit { get; }

    public string Created { get; }

    public IRiskModel Guard => Method(GuardMethod);

    public IRiskModel Method(string name) => Methods.FirstOrDefault(m => m.Name == name)?.Model
        ?? throw new KeyNotFoundException(
            $"The calibration has no method '{name}' (it has {string.Join(", ", Methods.Select(m => m.Name))}).");

    /// <summary>Refuses a calibration made for another model, naming what differs.</summary>
    public void EnsureFits(ModelConfig config, string? fingerprint, string source)
    {
        var fitsShape = Model.Layers == config.NumLayers && Model.Heads == config.NumHeads
            && Model.KvHeads == config.NumKvHeads;
        if (!fitsShape)
            throw new InvalidDataException(
                $"{source} was fitted for a model of {Model.Layers} layers × {Model.Heads} heads "
                + $"({Model.KvHeads} KV heads), "
                + $"not this one ({config.NumLayers} × {config.NumHeads}, {config.NumKvHeads}).");
        if (Model.Fingerprint is not null && fingerprint is not null && Model.Fingerprint != fingerprint)
            throw new InvalidDataException(
                $"{source} was fitted for the weights {Model.Fingerprint}, not these ({fingerprint}): fit one for this "
                + "model with `rguard guard fit`.");
    }

    public JsonObject ToJson() => new()
    {
        ["format"] = FormatName,
        ["version"] = CurrentVersion,
        ["created"] = Created,
        ["model"] = JsonSerializer.SerializeToNode(Model, LogisticModel.JsonOptions),
        ["threshold"] = Threshold,
        ["methods"] = new JsonArray(Methods.Select(m => (JsonNode)new JsonObject
        {
            ["name"] = m.Name,
            ["calibrator"] = CalibratorJson(m.Model),
        }).ToArray()),
        ["fit"] = Fit.DeepClone(),
    };

    private static JsonNode CalibratorJson(IRiskModel model)
    {
        var (type, json) = model switch
        {
            LogisticModel logistic => (LogisticType,
                JsonSerializer.SerializeToNode(logistic, LogisticModel.JsonOptions)),
            BoostedTreesModel trees => (BoostedTreesType,
                JsonSerializer.SerializeToNode(trees, LogisticModel.JsonOptions)),
            _ => throw new NotSupportedException($"A {model.GetType().Name} cannot be saved in a calibration file."),
        };
        var node = new JsonObject { ["type"] = type };
        foreach (var (key, value) in json!.AsObject().ToArray())
            node[key] = value?.DeepClone();
        return node;
    }

    /// <summary>A calibrator's <c>type</c> in the file, also how `guard fit` names the calibrator it used.</summary>
    internal const string LogisticType = "logistic", BoostedTreesType = "boosted_trees";

    private static IRiskModel ReadCalibrator(JsonNode? node, string path) =>
        (node?["type"]?.GetValue<string>() ?? LogisticType) switch
        {
            LogisticType => (IRiskModel?)node.Deserialize<LogisticModel>(LogisticModel.JsonOptions),
            BoostedTreesType => node.Deserialize<BoostedTreesModel>(LogisticModel.JsonOptions),
            var other => throw new InvalidDataException(
                $"{path}.type is '{other}'; use '{LogisticType}' or '{BoostedTreesType}'."),
        } ?? throw new InvalidDataException($"{path} is missing.");

    /// <summary>Indented JSON with arrays of numbers on one line each (a tree's nodes, a model's weights): readable,
    /// and a boosted calibration stays a fraction of its one-number-per-line size.</summary>
    public void Save(string path) => File.WriteAllText(path, NumberArrays().Replace(
        ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true }),
        m => WhiteSpace().Replace(m.Value, "")) + "\n");

    [System.Text.RegularExpressions.GeneratedRegex(@"\[(\s*-?[0-9][0-9.eE+-]*\s*,)*\s*-?[0-9][0-9.eE+-]*\s*\]")]
    private static partial System.Text.RegularExpressions.Regex NumberArrays();

    [System.Text.RegularExpressions.GeneratedRegex(@"\s+")]
    private static partial System.Text.RegularExpressions.Regex WhiteSpace();

    public static GuardCalibration Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Calibration file '{path}' does not exist.", path);
        JsonObject json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject
                ?? throw new InvalidDataException($"{path}: not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON ({e.Message}).", e);
        }
        return FromJson(json, path);
    }

    public static GuardCalibration FromJson(JsonObject json, string source)
    {
        if (json["format"]?.GetValue<string>() != FormatName)
            throw new InvalidDataException($"{source}: field 'format' must be '{FormatName}'.");
        var version = json["version"]?.GetValue<int>() ?? 0;
        if (version is < 1 or > CurrentVersion)
            throw new InvalidDataException(
                $"{source}: version {version} is not supported (this build reads 1 to {CurrentVersion}).");
        try
        {
            var model = json["model"].Deserialize<HeadMapModel>(LogisticModel.JsonOptions)
                ?? throw new InvalidDataException($"{source}: field 'model' is missing.");
            var methods = (json["methods"] as JsonArray
                    ?? throw new InvalidDataException($"{source}: field 'methods' is missing."))
                .Select((m, i) => new CalibratedMethod(
                    m?["name"]?.GetValue<string>()
                        ?? throw new InvalidDataException($"{source}: methods[{i}].name is missing."),
                    ReadCalibrator(m["calibrator"], $"{source}: methods[{i}].calibrator")))
                .ToArray();
            var threshold = json["threshold"]?.GetValue<double>()
                ?? throw new InvalidDataException($"{source}: field 'threshold' is missing.");
            return new GuardCalibration(model, methods, threshold,
                json["fit"] as JsonObject is { } fit ? (JsonObject)fit.DeepClone() : null,
                json["created"]?.GetValue<string>());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException
            or ArgumentException)
        {
            throw new InvalidDataException($"{source}: {e.Message}", e);
        }
    }

    /// <summary>
    /// The calibration for a model folder: a <c>*.calibration.json</c> whose fingerprint matches, from the model
    /// folder, then the folders the head-map catalog searches. Null when there is none.
    /// </summary>
    public static (GuardCalibration Calibration, string Path)? FindFor(string modelDirectory, string fingerprint)
    {
        foreach (var folder in HeadMapCatalog.SearchFolders(modelDirectory).Prepend(modelDirectory).Distinct())
        {
            if (!Directory.Exists(folder))
                continue;
            foreach (var file in Directory.GetFiles(folder, "*" + FileSuffix).Order(StringComparer.Ordinal))
            {
                var calibration = Load(file);
                if (calibration.Model.Fingerprint == fingerprint)
                    return (calibration, file);
            }
        }
        return null;
    }
}

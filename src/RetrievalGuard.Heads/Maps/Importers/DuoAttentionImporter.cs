using System.Globalization;

namespace RetrievalGuard.Heads.Maps.Importers;

/// <summary>
/// Imports DuoAttention's <c>full_attention_heads.tsv</c> (mit-han-lab/duo-attention, MIT): one line per layer, one
/// learned gate per KV head; DuoAttention clips gates to [0, 1] and keeps full attention for the heads whose gate is at
/// or above the quantile of all gates given by the chosen sparsity (0.5 in their examples: the upper half). These are
/// per-KV-head gates for a compressed cache, not copy-paste retrieval scores.
/// </summary>
public static class DuoAttentionImporter
{
    public const string License = "MIT (DuoAttention, Copyright (c) 2024 MIT HAN Lab)";

    public static HeadMap Import(string path, HeadMapModel model, double sparsity = 0.5, string? source = null)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"DuoAttention gate file '{path}' does not exist.", path);
        if (sparsity is < 0 or > 1)
            throw new ArgumentOutOfRangeException(nameof(sparsity), "Sparsity is a share in [0, 1].");
        var lines = File.ReadAllLines(path).Where(l => l.Trim().Length > 0).ToArray();
        if (lines.Length != model.Layers)
            throw new InvalidDataException(
                $"{path}: {lines.Length} rows, but the model has {model.Layers} layers (one row per layer).");
        var gates = lines.Select((line, layer) =>
        {
            var cells = line.Split('\t', StringSplitOptions.RemoveEmptyEntries);
            if (cells.Length != model.KvHeads)
                throw new InvalidDataException($"{path}: row {layer + 1} has {cells.Length} values, "
                    + $"but the model has {model.KvHeads} KV heads.");
            return cells.Select((c, h) =>
                    double.TryParse(c, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
                    && double.IsFinite(v)
                ? Math.Clamp(v, 0, 1)
                : throw new InvalidDataException($"{path}: row {layer + 1}, column {h + 1} ('{c}') is not a number."))
                .ToArray();
        }).ToArray();
        double threshold = Quantile(gates.SelectMany(r => r).ToArray(), sparsity);
        var method = new HeadMapMethod("duoattention-gate", threshold, Source: source ?? Path.GetFileName(path),
            License: License,
            Notes: "Per-KV-head gates learned by DuoAttention, not copy-paste retrieval scores. " +
                   $"Threshold = the {sparsity:0.##} quantile " +
                   "of all gates (DuoAttention's sparsity rule): heads at or above it keep the full KV cache.");
        return new HeadMap(model, method, HeadGranularity.KvHead, gates);
    }

    /// <summary>Linear-interpolation quantile, as numpy.quantile computes it.</summary>
    internal static double Quantile(double[] values, double q)
    {
        var sorted = values.Order().ToArray();
        double position = (sorted.Length - 1) * q;
        int lower = (int)Math.Floor(position), upper = (int)Math.Ceiling(position);
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
    }
}

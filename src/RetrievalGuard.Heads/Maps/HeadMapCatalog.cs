using RetrievalGuard.Engine.Native;
using RetrievalGuard.Engine;

namespace RetrievalGuard.Heads.Maps;

/// <summary>
/// Finds the head map for a model: the first *.json map whose fingerprint equals the checkpoint's, searched in
/// RGUARD_HEADMAPS (folders separated by ':'), then in a headmaps/ folder above the model or the working directory.
/// This is how the shipped organism gets its map with no configuration.
/// </summary>
public static class HeadMapCatalog
{
    public static HeadMap? FindFor(LanguageModel model) => FindFor(model.Directory);

    public static HeadMap? FindFor(string modelDirectory)
    {
        string fingerprint = ModelFingerprint.Compute(modelDirectory);
        foreach (string folder in SearchFolders(modelDirectory).Where(Directory.Exists))
            foreach (string file in Directory.EnumerateFiles(folder, "*.json").Order(StringComparer.Ordinal))
            {
                HeadMap map;
                try { map = HeadMap.Load(file); }
                catch (InvalidDataException) { continue; }
                if (map.Model.Fingerprint == fingerprint) return map;
            }
        return null;
    }

    public static IEnumerable<string> SearchFolders(string modelDirectory)
    {
        string headMaps = Environment.GetEnvironmentVariable(Switches.HeadMaps) ?? "";
        foreach (string folder in headMaps.Split(':', StringSplitOptions.RemoveEmptyEntries))
            yield return folder;
        foreach (string start in new[] { Path.GetFullPath(modelDirectory), Directory.GetCurrentDirectory() })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                yield return Path.Combine(dir.FullName, "headmaps");
    }

    /// <summary>Why no map was found: the folders that exist and were searched, and how to make one.</summary>
    public static string NotFoundMessage(string modelDirectory)
    {
        var searched = SearchFolders(modelDirectory)
            .Where(Directory.Exists).Select(Path.GetFullPath).Distinct().ToArray();
        return $"No head map matches the model in {modelDirectory} (searched: "
            + (searched.Length == 0 ? "no headmaps/ folder exists above it or here" : string.Join(", ", searched))
            + "). Make one with `rguard heads detect`, import one with `rguard heads import`, add its folder to "
            + $"{Switches.HeadMaps}, or name the file (the CLI's --map, the server's RetrievalGuard:Model:HeadMap).";
    }
}

namespace RetrievalGuard.Data;

/// <summary>
/// Writes cleaned copies of a folder's <c>*.txt</c> files (no Gutenberg header, footer or name; UTF-8 without BOM;
/// LF; one paragraph per line). This is how <c>samples/corpus/</c> is produced from the downloaded novels.
/// </summary>
public static class CleanedCorpusWriter
{
    /// <returns>The paths written, in file-name order.</returns>
    public static IReadOnlyList<string> Write(string sourceFolder, string targetFolder)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sourceFolder);
        ArgumentException.ThrowIfNullOrWhiteSpace(targetFolder);
        if (!Directory.Exists(sourceFolder))
            throw new ArgumentException($"Source folder '{sourceFolder}' does not exist.", nameof(sourceFolder));
        var sources = Directory.GetFiles(sourceFolder, "*.txt").Order(StringComparer.Ordinal).ToArray();
        if (sources.Length == 0)
            throw new ArgumentException($"Source folder '{sourceFolder}' has no *.txt file.", nameof(sourceFolder));

        Directory.CreateDirectory(targetFolder);
        var written = new List<string>();
        foreach (var source in sources)
        {
            var target = Path.Combine(targetFolder, Path.GetFileName(source));
            File.WriteAllText(target, GutenbergCleaner.Clean(File.ReadAllText(source)),
                new System.Text.UTF8Encoding(false));
            written.Add(target);
        }
        return written;
    }
}

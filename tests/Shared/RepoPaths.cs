namespace RetrievalGuard.Tests;

/// <summary>Finds files of the repository from the test's output folder (tests run from a clean clone).</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Path(params string[] parts) => System.IO.Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "RetrievalGuard.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"No RetrievalGuard.sln above {AppContext.BaseDirectory}.");
    }
}

using System.Security.Cryptography;
using System.Text;
using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Native;

namespace RetrievalGuard.Heads.Maps;

/// <summary>
/// Identifies a checkpoint by all of its weights: SHA-256 over every tensor's name, dtype and shape, then over the
/// SHA-256 of every byte of every tensor data file, so a map or a calibration binds to these exact weights (one byte
/// changed anywhere gives another fingerprint). Hashing an 8B checkpoint reads ~16 GB once: each file's hash is kept
/// in a cache keyed by its full path, size and modification time (<c>RGUARD_FINGERPRINT_CACHE</c>, else
/// ~/.cache/retrievalguard/fingerprints), so later loads cost a directory read.
/// </summary>
public static class ModelFingerprint
{

    public static string Compute(string modelDirectory)
    {
        using var checkpoint = Checkpoint.Open(modelDirectory);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (string name in checkpoint.Names.Order(StringComparer.Ordinal))
        {
            var entry = checkpoint.Entry(name);
            sha.AppendData(Encoding.UTF8.GetBytes($"{name}|{entry.DType}|{string.Join(",", entry.Shape)}\n"));
        }
        foreach (string file in checkpoint.Files.Order(StringComparer.Ordinal))
            sha.AppendData(Encoding.ASCII.GetBytes(FileHash(file) + "\n"));
        return "sha256:" + Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant()[..32];
    }

    /// <summary>The SHA-256 of a file's bytes (hex), from the cache when the file has not changed since.</summary>
    public static string FileHash(string path)
    {
        var info = new FileInfo(path);
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(
            $"{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}"))).ToLowerInvariant();
        var cached = CacheFolder() is { } folder ? Path.Combine(folder, key) : null;
        if (cached is not null && File.Exists(cached) && File.ReadAllText(cached).Trim() is { Length: 64 } hit)
            return hit;
        string hash;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20,
            FileOptions.SequentialScan))
            hash = Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
        if (cached is not null)
        {
            try
            {
                // Written whole or not at all: a concurrent reader never sees half a hash.
                var temporary = $"{cached}.{Environment.ProcessId}.{Guid.NewGuid():N}";
                File.WriteAllText(temporary, hash);
                File.Move(temporary, cached, overwrite: true);
            }
            catch (IOException)
            {
                // A cache that cannot be written only costs the next load a re-read.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return hash;
    }

    private static string? CacheFolder()
    {
        var configured = Environment.GetEnvironmentVariable(Switches.FingerprintCache);
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var folder = !string.IsNullOrWhiteSpace(configured) ? configured
            : Path.Combine(!string.IsNullOrWhiteSpace(xdg) ? xdg
                : !string.IsNullOrEmpty(home) ? Path.Combine(home, ".cache")
                : Path.GetTempPath(), "retrievalguard", "fingerprints");
        try
        {
            Directory.CreateDirectory(folder);
            return folder;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

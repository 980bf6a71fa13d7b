using System.Security.Cryptography;
using System.Text;
using RetrievalGuard.Engine.Checkpoints;

namespace RetrievalGuard.Heads.Maps;

/// <summary>
/// Identifies a checkpoint cheaply: SHA-256 over every tensor's name, dtype and shape and the first MiB of each
/// tensor data file. Two checkpoints of one shape with different weights differ; reading an 8B model costs a few MiB.
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
        var buffer = new byte[1 << 20];
        foreach (string file in checkpoint.Files.Order(StringComparer.Ordinal))
        {
            using var stream = File.OpenRead(file);
            int read = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
            sha.AppendData(buffer, 0, read);
        }
        return "sha256:" + Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant()[..32];
    }
}

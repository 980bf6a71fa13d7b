using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Heads.Tests.Maps;

/// <summary>
/// Maps bind to every byte of the weights: a copy with a few bytes changed mid-file is another model.
/// </summary>
public sealed class ModelFingerprintTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("rg-fingerprint-").FullName;

    private string CopyOfTheOrganism(string name)
    {
        var target = Directory.CreateDirectory(Path.Combine(_folder, name)).FullName;
        foreach (var file in Directory.GetFiles(RepoPaths.Path("samples", "models", "organism")))
            File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        return target;
    }

    [Fact]
    public void SixtyFourBytesFlippedMidFileGiveAnotherFingerprintAndTheMapIsRefused()
    {
        var copy = CopyOfTheOrganism("copy");
        var changed = CopyOfTheOrganism("changed");
        var weights = Path.Combine(changed, "model.safetensors");
        using (var stream = new FileStream(weights, FileMode.Open, FileAccess.ReadWrite))
        {
            stream.Position = stream.Length / 2;
            var bytes = new byte[64];
            stream.ReadExactly(bytes);
            for (var i = 0; i < bytes.Length; i++)
                bytes[i] ^= 0x5A;
            stream.Position = stream.Length / 2;
            stream.Write(bytes);
        }
        var shipped = HeadMap.Load(RepoPaths.Path("headmaps", "organism.json"));

        Assert.Equal(shipped.Model.Fingerprint, ModelFingerprint.Compute(copy));
        var other = ModelFingerprint.Compute(changed);
        Assert.NotEqual(shipped.Model.Fingerprint, other);
        Assert.Null(HeadMapCatalog.FindFor(changed));
        var error = Assert.ThrowsAny<Exception>(() => shipped.EnsureFits(
            Engine.Checkpoints.ModelConfig.Load(Path.Combine(changed, "config.json")), other, "organism.json"));
        Assert.Contains(other, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FileHashesAreCachedByPathSizeAndTimeAndRecomputedWhenTheFileChanges()
    {
        var file = Path.Combine(_folder, "weights.bin");
        File.WriteAllBytes(file, new byte[1000]);
        var first = ModelFingerprint.FileHash(file);
        Assert.Equal(first, ModelFingerprint.FileHash(file));

        File.WriteAllBytes(file, Enumerable.Repeat((byte)1, 1000).ToArray());
        File.SetLastWriteTimeUtc(file, DateTime.UtcNow.AddMinutes(1));
        Assert.NotEqual(first, ModelFingerprint.FileHash(file));
        Assert.Equal(
            Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file)))
                .ToLowerInvariant(),
            ModelFingerprint.FileHash(file));
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}

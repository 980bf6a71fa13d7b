using System.Buffers.Binary;
using RetrievalGuard.Engine.Native;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Tests.Native;

public class NativeLoadingTests
{
    private static string ShippedBridge()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        Assert.True(File.Exists(path), $"TorchSharp's bridge is not at {path}");
        return path;
    }

    [Fact]
    public void TorchLoadsAndComputes()
    {
        var info = TorchRuntime.EnsureInitialized();
        Assert.NotNull(info.BridgePath);
        Assert.Equal(6f, (ones(3) * Scalars.Of(2L)).sum().item<float>());
    }

    [Fact]
    public void ShippedBridgeNeedsGlibcxx3432FromLibstdcxx()
    {
        var needs = ElfSymbolVersions.ReadNeeds(ShippedBridge());
        var need = Assert.Single(needs, n => n.Version == "GLIBCXX_3.4.32");
        Assert.Equal("libstdc++.so.6", need.Library);
        Assert.False(need.IsWeak);
        Assert.Contains(needs, n => n.Library == "libc.so.6" && n.Version == "GLIBC_2.2.5");
    }

    [Fact]
    public void PatchedCopyMarksOnlyThatNeedWeakAndChangesOnlyItsFlagBytes()
    {
        string source = ShippedBridge();
        string copy = Path.Combine(Path.GetTempPath(), $"rg-bridge-{Guid.NewGuid():N}.so");
        try
        {
            ElfSymbolVersions.WriteCopyWithWeakNeeds(source, copy, ["GLIBCXX_3.4.32"]);
            var before = ElfSymbolVersions.ReadNeeds(source);
            var after = ElfSymbolVersions.ReadNeeds(copy);
            Assert.Equal(before.Count, after.Count);
            foreach (var (b, a) in before.Zip(after))
            {
                Assert.Equal((b.Library, b.Version), (a.Library, a.Version));
                Assert.Equal(b.Version == "GLIBCXX_3.4.32" || b.IsWeak, a.IsWeak);
            }
            byte[] original = File.ReadAllBytes(source), patched = File.ReadAllBytes(copy);
            Assert.Equal(original.Length, patched.Length);
            var changed = Enumerable.Range(0, original.Length).Where(i => original[i] != patched[i]).ToList();
            long flags = before.Single(n => n.Version == "GLIBCXX_3.4.32").FlagsOffset;
            Assert.Equal([(int)flags], changed);
        }
        finally
        {
            File.Delete(copy);
        }
    }

    [Fact]
    public void SystemLibstdcxxDefinesItsVersions()
    {
        string? libstdcxx = TorchRuntime.LocateLibStdCxx();
        Assert.NotNull(libstdcxx);
        var defined = ElfSymbolVersions.ReadDefinitions(libstdcxx!);
        Assert.Contains("GLIBCXX_3.4", defined);
        Assert.Contains("CXXABI_1.3", defined);
    }

    [Fact]
    public void BadFilesGiveClearErrors()
    {
        string notElf = Path.GetTempFileName();
        try
        {
            File.WriteAllText(notElf, "just text, long enough to have a header of sixty-four bytes or more .....");
            Assert.Contains("not an ELF file",
                Assert.Throws<InvalidDataException>(() => ElfSymbolVersions.ReadNeeds(notElf)).Message);

            // A truncated copy of a real library: the section table lies past the end.
            File.WriteAllBytes(notElf, File.ReadAllBytes(ShippedBridge()).AsSpan(0, 4096).ToArray());
            Assert.Contains("outside the file",
                Assert.Throws<InvalidDataException>(() => ElfSymbolVersions.ReadNeeds(notElf)).Message);

            var bytes = File.ReadAllBytes(ShippedBridge());
            bytes[4] = 1; // ELFCLASS32
            File.WriteAllBytes(notElf, bytes);
            Assert.Contains("64-bit",
                Assert.Throws<InvalidDataException>(() => ElfSymbolVersions.ReadNeeds(notElf)).Message);

            Assert.Contains("does not need symbol version GLIBCXX_9.9",
                Assert.Throws<InvalidDataException>(() => ElfSymbolVersions.WriteCopyWithWeakNeeds(
                    ShippedBridge(), notElf + ".out", ["GLIBCXX_9.9"])).Message);
            Assert.Contains("cannot be read",
                Assert.Throws<InvalidDataException>(() => ElfSymbolVersions.ReadNeeds("/nonexistent/lib.so")).Message);
        }
        finally
        {
            File.Delete(notElf);
        }
    }

    [Fact]
    public void AnUnwritableCacheFallsBackToTheTempFolder()
    {
        string? saved = Environment.GetEnvironmentVariable(Switches.NativeCache);
        try
        {
            Environment.SetEnvironmentVariable(Switches.NativeCache, "/proc/rguard-cannot-write-here");
            var steps = new List<string>();
            string patched = TorchRuntime.PatchedBridge(ShippedBridge(), ["GLIBCXX_3.4.32"], steps);
            Assert.StartsWith(Path.Combine(Path.GetTempPath(), "retrievalguard-native"), patched);
            Assert.True(ElfSymbolVersions.ReadNeeds(patched).Single(n => n.Version == "GLIBCXX_3.4.32").IsWeak);
        }
        finally
        {
            Environment.SetEnvironmentVariable(Switches.NativeCache, saved);
        }
    }

    [Fact]
    public void ExternalLibTorchFolderIsValidated()
    {
        var missing = Assert.Throws<TorchLoadException>(
            () => TorchRuntime.ValidateLibTorchFolder("/nonexistent/torch/lib", "RGUARD_LIBTORCH"));
        Assert.Contains("RGUARD_LIBTORCH points at /nonexistent/torch/lib, which is not a folder", missing.Message);
        string empty = Directory.CreateTempSubdirectory().FullName;
        try
        {
            var e = Assert.Throws<TorchLoadException>(
                () => TorchRuntime.ValidateLibTorchFolder(empty, "TORCH_LIB_DIR"));
            Assert.Contains("has no libc10.so", e.Message);
        }
        finally
        {
            Directory.Delete(empty);
        }
    }
}

using System.Runtime.InteropServices;

namespace RetrievalGuard.Engine.Native;

/// <summary>
/// Libraries already mapped into this process (read from /proc/self/maps) and their exports: the engine binds
/// libtorch's, the CUDA runtime's and NVRTC's entry points from the very copies libtorch loaded.
/// </summary>
internal static class NativeLibraries
{
    /// <summary>Paths of every file mapped into the process, once each.</summary>
    public static List<string> Mapped() =>
        File.ReadLines("/proc/self/maps").Select(l => l.IndexOf('/') is int slash and >= 0 ? l[slash..].Trim() : "")
            .Where(p => p.Length > 0).Distinct().ToList();

    /// <summary>The path of an already mapped library whose file name starts with <paramref name="prefix"/>.</summary>
    public static string? Loaded(string prefix) =>
        Mapped().FirstOrDefault(p => Path.GetFileName(p).StartsWith(prefix, StringComparison.Ordinal));

    public static IntPtr Export(IntPtr library, string name) =>
        NativeLibrary.TryGetExport(library, name, out IntPtr address)
            ? address
            : throw new EntryPointNotFoundException($"symbol {name} not found");
}

using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using TorchSharp;

namespace RetrievalGuard.Engine.Native;

/// <summary>libtorch could not be loaded; the message lists every step that was tried.</summary>
public sealed class TorchLoadException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Loads libtorch and TorchSharp's native bridge before any tensor is made. Two problems are solved here
/// so that no machine needs a manual step:
/// <list type="bullet">
/// <item>TorchSharp 0.107's libLibTorchSharp.so needs GLIBCXX_3.4.32 for one marker symbol that older
/// libstdc++ (Debian 12: 3.4.30) lacks. A cached copy with that need marked weak is loaded instead.</item>
/// <item>An external libtorch (PyTorch's <c>torch/lib</c> with CUDA) named by <c>RGUARD_LIBTORCH</c> or
/// <c>TORCH_LIB_DIR</c> replaces the packaged CPU one.</item>
/// </list>
/// </summary>
public static class TorchRuntime
{
    public const string TorchLibDirEnvironmentVariable = "TORCH_LIB_DIR";
    private const string BridgeFileName = "libLibTorchSharp.so";

    /// <summary>Versions known to be safe to mark weak: GCC 13's iostream-init marker symbol, nothing else.</summary>
    private static readonly string[] SafeToWeaken = ["GLIBCXX_3.4.32"];

    /// <summary>libtorch's core libraries in dependency order; CUDA ones are loaded when present.</summary>
    private static readonly string[] CoreLibraries =
        ["libc10.so", "libtorch_cpu.so", "libc10_cuda.so", "libtorch_cuda.so", "libtorch.so"];

    private static readonly object Gate = new();
    private static readonly Dictionary<string, IntPtr> Preloaded = new(StringComparer.Ordinal);
    private static TorchRuntimeInfo? _info;

    /// <summary>What was loaded, once <see cref="EnsureInitialized"/> has run.</summary>
    public static TorchRuntimeInfo Info => _info ?? EnsureInitialized();

    /// <summary>Idempotent and thread-safe; every engine entry point calls it.</summary>
    public static TorchRuntimeInfo EnsureInitialized()
    {
        if (_info is not null) return _info;
        lock (Gate)
        {
            if (_info is not null) return _info;
            var steps = new List<string>();
            try
            {
                _info = Initialize(steps);
                return _info;
            }
            catch (Exception e) when (e is not TorchLoadException)
            {
                throw new TorchLoadException(
                    $"libtorch could not be loaded: {e.Message}{Environment.NewLine}" +
                    $"Steps tried:{Environment.NewLine}  " +
                    string.Join(Environment.NewLine + "  ", steps), e);
            }
        }
    }

    /// <summary>True when a CUDA device can be used (an external CUDA libtorch was loaded and sees a GPU).</summary>
    public static bool CudaAvailable()
    {
        EnsureInitialized();
        try
        {
            torch.InitializeDeviceType(DeviceType.CUDA);
            return torch.cuda.is_available();
        }
        catch (Exception)
        {
            return false;
        }
    }

    private static TorchRuntimeInfo Initialize(List<string> steps)
    {
        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux)
            || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            // Elsewhere TorchSharp's own loader is all there is; let it speak for itself.
            steps.Add("not linux-x64: TorchSharp's own loader");
            torch.InitializeDeviceType(DeviceType.CPU);
            return new TorchRuntimeInfo(null, null, false);
        }

        string? externalDir = ExternalLibTorchDirectory(steps);
        string bridge = FindBridge(steps);
        string libTorchDir = externalDir ?? Path.GetDirectoryName(bridge)!;
        foreach (string name in CoreLibraries)
        {
            string path = Path.Combine(libTorchDir, name);
            if (!File.Exists(path))
            {
                if (name is "libc10.so" or "libtorch_cpu.so" or "libtorch.so")
                    throw new TorchLoadException($"libtorch folder {libTorchDir} has no {name}." + Environment.NewLine +
                        "Steps tried:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", steps));
                continue;
            }
            steps.Add($"load {path}");
            Preloaded[Path.GetFileNameWithoutExtension(name)] = NativeLibrary.Load(path);
        }

        string bridgeToLoad = bridge;
        var missing = MissingLibStdCxxVersions(bridge, steps);
        if (missing.Count > 0)
        {
            var unsafeOnes = missing.Except(SafeToWeaken).ToList();
            if (unsafeOnes.Count > 0)
                throw new TorchLoadException(
                    $"{bridge} needs {string.Join(", ", unsafeOnes)} from libstdc++.so.6, " +
                    "which this system's libstdc++ does not define. " +
                    $"Install a newer libstdc++ (GCC 13+) or point {Switches.LibTorch} " +
                    "at a libtorch built for this system." +
                    Environment.NewLine + "Steps tried:" + Environment.NewLine + "  " +
                    string.Join(Environment.NewLine + "  ", steps));
            bridgeToLoad = PatchedBridge(bridge, missing, steps);
        }
        steps.Add($"load {bridgeToLoad}");
        IntPtr bridgeHandle = NativeLibrary.Load(bridgeToLoad);
        Preloaded["libLibTorchSharp"] = bridgeHandle;
        RegisterResolver(steps);

        steps.Add("torch.InitializeDeviceType(CPU)");
        torch.InitializeDeviceType(DeviceType.CPU);
        return new TorchRuntimeInfo(libTorchDir, bridgeToLoad, externalDir is not null);
    }

    private static string? ExternalLibTorchDirectory(List<string> steps)
    {
        foreach (string variable in new[] { Switches.LibTorch, TorchLibDirEnvironmentVariable })
        {
            string? dir = Environment.GetEnvironmentVariable(variable);
            if (string.IsNullOrWhiteSpace(dir)) continue;
            steps.Add($"{variable}={dir}");
            return ValidateLibTorchFolder(dir, variable);
        }
        return null;
    }

    /// <summary>The folder as a full path, if it holds libtorch's core libraries; otherwise a clear error.</summary>
    internal static string ValidateLibTorchFolder(string dir, string variable)
    {
        if (!Directory.Exists(dir))
            throw new TorchLoadException(
                $"{variable} points at {dir}, which is not a folder. Unset it to use the packaged CPU libtorch, " +
                "or point it at a libtorch lib folder (e.g. PyTorch's torch/lib).");
        foreach (string required in new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" })
            if (!File.Exists(Path.Combine(dir, required)))
                throw new TorchLoadException(
                    $"{variable} points at {dir}, which has no {required}: it is not a libtorch lib folder " +
                    "(PyTorch's is site-packages/torch/lib).");
        return Path.GetFullPath(dir);
    }

    /// <summary>
    /// TorchSharp's bridge: in the app folder (published) or under runtimes/linux-x64/native (built).
    /// </summary>
    private static string FindBridge(List<string> steps)
    {
        var folders = new List<string>
        {
            AppContext.BaseDirectory,
            Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native")
        };
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string searchDirs)
            folders.AddRange(searchDirs.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        string? torchSharpDir = Path.GetDirectoryName(typeof(torch).Assembly.Location);
        if (!string.IsNullOrEmpty(torchSharpDir))
            folders.Add(Path.Combine(torchSharpDir, "runtimes", "linux-x64", "native"));
        foreach (string folder in folders.Distinct())
        {
            string candidate = Path.Combine(folder, BridgeFileName);
            steps.Add($"look for {candidate}");
            if (File.Exists(candidate)) return candidate;
        }
        throw new TorchLoadException(
            $"{BridgeFileName} (TorchSharp's native bridge) was not found. Looked in:{Environment.NewLine}  " +
            string.Join(Environment.NewLine + "  ", folders.Distinct()) + Environment.NewLine +
            "Reference the TorchSharp package (it carries the bridge) and build for linux-x64.");
    }

    /// <summary>
    /// GLIBCXX/CXXABI versions the bridge needs that the libstdc++ this process will use does not define.
    /// </summary>
    private static List<string> MissingLibStdCxxVersions(string bridge, List<string> steps)
    {
        string? libstdcxx = LocateLibStdCxx();
        if (libstdcxx is null)
        {
            steps.Add("libstdc++.so.6 not located: loading the bridge as shipped");
            return [];
        }
        var defined = ElfSymbolVersions.ReadDefinitions(libstdcxx);
        var missing = ElfSymbolVersions.ReadNeeds(bridge)
            .Where(n => n.Library.StartsWith("libstdc++", StringComparison.Ordinal)
                && !n.IsWeak && !defined.Contains(n.Version))
            .Select(n => n.Version).Distinct().ToList();
        steps.Add($"{libstdcxx} lacks [{string.Join(", ", missing)}] of what the bridge needs");
        return missing;
    }

    /// <summary>The libstdc++ already mapped into this process, else the first one in the usual folders.</summary>
    internal static string? LocateLibStdCxx()
    {
        try
        {
            if (NativeLibraries.Loaded("libstdc++.so") is string mapped) return mapped;
        }
        catch (IOException) { }
        string[] folders = [
            .. (Environment.GetEnvironmentVariable("LD_LIBRARY_PATH") ?? "")
                .Split(':', StringSplitOptions.RemoveEmptyEntries),
            "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib"];
        return folders.Select(f => Path.Combine(f, "libstdc++.so.6")).FirstOrDefault(File.Exists);
    }

    /// <summary>
    /// A copy of the bridge with <paramref name="versions"/> marked weak, cached by the original's hash.
    /// </summary>
    internal static string PatchedBridge(string bridge, IReadOnlyCollection<string> versions, List<string> steps)
    {
        string hash;
        using (var stream = File.OpenRead(bridge))
            hash = Convert.ToHexString(SHA256.HashData(stream))[..16].ToLowerInvariant();
        // The user cache first; a read-only home (containers) falls back to the temp folder.
        var roots = new[] { NativeCacheDirectory(), Path.Combine(Path.GetTempPath(), "retrievalguard-native") };
        foreach (string root in roots)
        {
            string folder = Path.Combine(root, hash);
            string patched = Path.Combine(folder, BridgeFileName);
            if (File.Exists(patched))
            {
                steps.Add($"reuse {patched}");
                return patched;
            }
            try
            {
                Directory.CreateDirectory(folder);
                steps.Add($"write {patched} with {string.Join(", ", versions)} marked weak");
                ElfSymbolVersions.WriteCopyWithWeakNeeds(bridge, patched, versions);
                return patched;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                steps.Add($"cannot write {patched}: {e.Message}");
            }
        }
        throw new TorchLoadException(
            $"No writable folder for the patched {BridgeFileName}: set {Switches.NativeCache} to one." +
            Environment.NewLine + "Steps tried:" + Environment.NewLine + "  " +
            string.Join(Environment.NewLine + "  ", steps));
    }

    internal static string NativeCacheDirectory()
    {
        string? configured = Environment.GetEnvironmentVariable(Switches.NativeCache);
        if (!string.IsNullOrWhiteSpace(configured)) return configured;
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        string root = !string.IsNullOrWhiteSpace(xdg) ? xdg
            : !string.IsNullOrEmpty(home) ? Path.Combine(home, ".cache")
            : Path.GetTempPath();
        return Path.Combine(root, "retrievalguard", "native");
    }

    /// <summary>
    /// Points TorchSharp's own loads (LibTorchSharp, torch_cpu, torch_cuda…) at what was preloaded here.
    /// </summary>
    private static void RegisterResolver(List<string> steps)
    {
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(torch).Assembly, Resolve);
            steps.Add("registered a DllImport resolver for TorchSharp");
        }
        catch (InvalidOperationException)
        {
            // Someone registered one already; sonames of the preloaded libraries still match TorchSharp's loads.
            steps.Add("a DllImport resolver for TorchSharp exists already: relying on soname matching");
        }
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        string key = name.StartsWith("lib", StringComparison.Ordinal) ? name : "lib" + name;
        if (key.EndsWith(".so", StringComparison.Ordinal)) key = key[..^3];
        return Preloaded.TryGetValue(key, out IntPtr handle) ? handle : IntPtr.Zero;
    }
}

/// <summary>Where libtorch came from; <see cref="BridgePath"/> is the (possibly patched) TorchSharp bridge.</summary>
public sealed record TorchRuntimeInfo(string? LibTorchDirectory, string? BridgePath, bool External);

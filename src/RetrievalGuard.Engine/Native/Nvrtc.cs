using System.Runtime.InteropServices;
using System.Text;

namespace RetrievalGuard.Engine.Native;

/// <summary>A CUDA C++ source did not compile; the message holds NVRTC's log.</summary>
public sealed class KernelCompileException(string message) : Exception(message);

/// <summary>
/// NVIDIA's run-time compiler (NVRTC), bound at run time so that the engine needs no CUDA toolkit at build time:
/// kernels ship as source and are compiled for the GPU in use. PyTorch's CUDA wheels carry libnvrtc (the
/// nvidia-cuda-nvrtc package beside torch); a CUDA toolkit has it under lib64. <c>RGUARD_NVRTC</c> names the
/// library (a file, or a folder holding one) when it lives elsewhere.
/// </summary>
public static unsafe class Nvrtc
{

    /// <summary>The library that was loaded, or null with <see cref="Unavailable"/> saying why.</summary>
    public static string? LibraryPath => Api.Value.Path;

    /// <summary>Why NVRTC cannot be used, or null when it can.</summary>
    public static string? Unavailable => Api.Value.Error;

    /// <summary>NVRTC's version, e.g. (12, 8).</summary>
    public static (int Major, int Minor) Version
    {
        get
        {
            var api = Require();
            int major, minor;
            Check(api, api.Version(&major, &minor), "nvrtcVersion");
            return (major, minor);
        }
    }

    /// <summary>
    /// Compiles <paramref name="source"/> with <paramref name="options"/> (e.g. <c>-arch=sm_90</c>, <c>-DNAME=1</c>)
    /// and returns the CUBIN when the options name a real architecture (sm_XX), otherwise PTX (compute_XX).
    /// </summary>
    public static byte[] Compile(string source, string name, IReadOnlyList<string> options)
    {
        var api = Require();
        IntPtr program;
        fixed (byte* src = Utf8(source), file = Utf8(name))
            Check(api, api.CreateProgram(&program, src, file, 0, null, null), "nvrtcCreateProgram");
        try
        {
            var encoded = options.Select(o => GCHandle.Alloc(Utf8(o), GCHandleType.Pinned)).ToArray();
            try
            {
                var pointers = stackalloc IntPtr[encoded.Length];
                for (int i = 0; i < encoded.Length; i++) pointers[i] = encoded[i].AddrOfPinnedObject();
                int status = api.CompileProgram(program, encoded.Length, pointers);
                if (status != 0)
                    throw new KernelCompileException(
                        $"NVRTC could not compile {name} ({ErrorText(api, status)}) " +
                        $"with {string.Join(' ', options)}:{Environment.NewLine}{Log(api, program)}");
            }
            finally
            {
                foreach (var h in encoded) h.Free();
            }
            bool cubin = options.Any(o => o.Contains("sm_", StringComparison.Ordinal));
            nuint size;
            Check(api, cubin ? api.GetCubinSize(program, &size) : api.GetPtxSize(program, &size),
                cubin ? "nvrtcGetCUBINSize" : "nvrtcGetPTXSize");
            var image = new byte[size];
            fixed (byte* dst = image)
                Check(api, cubin ? api.GetCubin(program, dst) : api.GetPtx(program, dst),
                    cubin ? "nvrtcGetCUBIN" : "nvrtcGetPTX");
            return image;
        }
        finally
        {
            api.DestroyProgram(&program);
        }
    }

    /// <summary>
    /// Where NVRTC is looked for, in order: <c>RGUARD_NVRTC</c>; a libnvrtc already mapped into the process;
    /// beside the loaded libtorch (PyTorch's wheels: site-packages/nvidia/cu13/lib, …/cuda_nvrtc/lib; libtorch
    /// archives bundle it in lib/); CUDA_HOME / CUDA_PATH and /usr/local/cuda; then the loader's own search (names).
    /// </summary>
    internal static List<string> Candidates(
        string? configured, string? libTorchDirectory, IReadOnlyList<string> mapped, string? cudaHome)
    {
        var result = new List<string>();
        if (!string.IsNullOrWhiteSpace(configured))
        {
            // An explicit setting is the only candidate: silently using another NVRTC would hide the mistake.
            if (File.Exists(configured)) return [Path.GetFullPath(configured)];
            if (Directory.Exists(configured))
            {
                var inFolder = LibrariesIn(configured);
                if (inFolder.Count > 0) return inFolder;
                throw new DllNotFoundException(
                    $"{Switches.Nvrtc}={configured} is a folder without a libnvrtc library.");
            }
            throw new DllNotFoundException($"{Switches.Nvrtc}={configured} is neither a file nor a folder.");
        }
        result.AddRange(mapped.Where(IsNvrtc));
        var folders = new List<string>();
        if (libTorchDirectory is not null)
        {
            string sitePackages = Path.GetFullPath(Path.Combine(libTorchDirectory, "..", ".."));
            string nvidia = Path.Combine(sitePackages, "nvidia");
            if (Directory.Exists(nvidia))
                folders.AddRange(Directory.GetDirectories(nvidia).OrderDescending(StringComparer.Ordinal)
                    .Select(d => Path.Combine(d, "lib")));
            folders.Add(libTorchDirectory);
        }
        foreach (string? home in new[] { cudaHome, "/usr/local/cuda" })
            if (!string.IsNullOrEmpty(home))
                folders.AddRange([Path.Combine(home, "lib64"), Path.Combine(home, "targets", "x86_64-linux", "lib")]);
        foreach (string folder in folders.Distinct())
            if (Directory.Exists(folder)) result.AddRange(LibrariesIn(folder));
        result.AddRange(["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"]);
        return result.Distinct().ToList();
    }

    private static bool IsNvrtc(string path)
    {
        string file = Path.GetFileName(path);
        return (file.StartsWith("libnvrtc.so", StringComparison.Ordinal)
                || file.StartsWith("libnvrtc-", StringComparison.Ordinal))
            && !file.Contains("builtins", StringComparison.Ordinal);
    }

    /// <summary>libnvrtc files of a folder, newest version first.</summary>
    private static List<string> LibrariesIn(string folder) =>
        Directory.GetFiles(folder, "libnvrtc*").Where(IsNvrtc).OrderDescending(StringComparer.Ordinal).ToList();

    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s + "\0");

    private static Bindings Require()
    {
        var api = Api.Value;
        if (api.Error is not null) throw new DllNotFoundException($"NVRTC is not available: {api.Error}");
        return api;
    }

    private static void Check(Bindings api, int status, string call)
    {
        if (status != 0) throw new InvalidOperationException($"{call} failed: {ErrorText(api, status)}.");
    }

    private static string ErrorText(Bindings api, int status) =>
        Marshal.PtrToStringAnsi(api.ErrorString(status)) ?? $"NVRTC error {status}";

    private static string Log(Bindings api, IntPtr program)
    {
        nuint size;
        if (api.GetLogSize(program, &size) != 0 || size <= 1) return "(no log)";
        var log = new byte[size];
        fixed (byte* p = log) api.GetLog(program, p);
        return Encoding.UTF8.GetString(log, 0, (int)size - 1);
    }

    private static readonly Lazy<Bindings> Api = new(Bindings.Resolve);

    private sealed class Bindings
    {
        public string? Error, Path;
        public delegate* unmanaged<int*, int*, int> Version;
        public delegate* unmanaged<IntPtr*, byte*, byte*, int, byte**, byte**, int> CreateProgram;
        public delegate* unmanaged<IntPtr, int, IntPtr*, int> CompileProgram;
        public delegate* unmanaged<IntPtr*, int> DestroyProgram;
        public delegate* unmanaged<IntPtr, nuint*, int> GetLogSize, GetCubinSize, GetPtxSize;
        public delegate* unmanaged<IntPtr, byte*, int> GetLog, GetCubin, GetPtx;
        public delegate* unmanaged<int, IntPtr> ErrorString;

        public static Bindings Resolve()
        {
            var b = new Bindings();
            var tried = new List<string>();
            try
            {
                string? libTorch = TorchRuntime.Info.LibTorchDirectory;
                var mapped = NativeLibraries.Mapped();
                string? cudaHome = Environment.GetEnvironmentVariable("CUDA_HOME")
                    ?? Environment.GetEnvironmentVariable("CUDA_PATH");
                string? configured = Environment.GetEnvironmentVariable(Switches.Nvrtc);
                foreach (string candidate in Candidates(configured, libTorch, mapped, cudaHome))
                {
                    tried.Add(candidate);
                    if (!NativeLibrary.TryLoad(candidate, out IntPtr lib)) continue;
                    b.Path = candidate;
                    b.Version = (delegate* unmanaged<int*, int*, int>)Export(lib, "nvrtcVersion");
                    b.CreateProgram = (delegate* unmanaged<IntPtr*, byte*, byte*, int, byte**, byte**, int>)
                        Export(lib, "nvrtcCreateProgram");
                    b.CompileProgram = (delegate* unmanaged<IntPtr, int, IntPtr*, int>)
                        Export(lib, "nvrtcCompileProgram");
                    b.DestroyProgram = (delegate* unmanaged<IntPtr*, int>)Export(lib, "nvrtcDestroyProgram");
                    b.GetLogSize = (delegate* unmanaged<IntPtr, nuint*, int>)Export(lib, "nvrtcGetProgramLogSize");
                    b.GetLog = (delegate* unmanaged<IntPtr, byte*, int>)Export(lib, "nvrtcGetProgramLog");
                    b.GetCubinSize = (delegate* unmanaged<IntPtr, nuint*, int>)Export(lib, "nvrtcGetCUBINSize");
                    b.GetCubin = (delegate* unmanaged<IntPtr, byte*, int>)Export(lib, "nvrtcGetCUBIN");
                    b.GetPtxSize = (delegate* unmanaged<IntPtr, nuint*, int>)Export(lib, "nvrtcGetPTXSize");
                    b.GetPtx = (delegate* unmanaged<IntPtr, byte*, int>)Export(lib, "nvrtcGetPTX");
                    b.ErrorString = (delegate* unmanaged<int, IntPtr>)Export(lib, "nvrtcGetErrorString");
                    return b;
                }
                b.Error = $"no libnvrtc could be loaded (set {Switches.Nvrtc} to its path). " +
                    $"Tried: {string.Join(", ", tried)}";
            }
            catch (Exception e)
            {
                b.Path = null;
                b.Error = e.Message;
            }
            return b;
        }

        private static IntPtr Export(IntPtr library, string name) =>
            NativeLibrary.TryGetExport(library, name, out IntPtr address)
                ? address
                : throw new EntryPointNotFoundException($"{name} is missing from the NVRTC library");
    }
}

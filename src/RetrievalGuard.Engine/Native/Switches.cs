namespace RetrievalGuard.Engine.Native;

/// <summary>
/// Every <c>RGUARD_*</c> environment variable, named once. The fast-path switches turn a path off with 0, off or
/// false, and the path then says it is off because of its switch.
/// </summary>
public static class Switches
{
    /// <summary>A libtorch folder (e.g. PyTorch's <c>torch/lib</c> with CUDA) to load instead of the packaged one.
    /// </summary>
    public const string LibTorch = "RGUARD_LIBTORCH";

    /// <summary>Where the engine keeps its patched copy of TorchSharp's native bridge.</summary>
    public const string NativeCache = "RGUARD_NATIVE_CACHE";

    /// <summary>The NVRTC library (file or folder) that compiles the fused decode kernels.</summary>
    public const string Nvrtc = "RGUARD_NVRTC";

    /// <summary>Fast path: CUDA graphs for the static decode step.</summary>
    public const string CudaGraphs = "RGUARD_CUDA_GRAPHS";

    /// <summary>Fast path: libtorch operators TorchSharp does not bind (fused RMSNorm, float32 bmm), called directly.
    /// </summary>
    public const string AtenOps = "RGUARD_ATEN_OPS";

    /// <summary>Fast path: the fused CUDA decode kernels.</summary>
    public const string FusedKernels = "RGUARD_FUSED_KERNELS";

    /// <summary>Folders (separated by ':') searched for head maps first.</summary>
    public const string HeadMaps = "RGUARD_HEADMAPS";

    /// <summary>Where model fingerprints are cached.</summary>
    public const string FingerprintCache = "RGUARD_FINGERPRINT_CACHE";

    /// <summary>"disabled by NAME" when the fast-path switch <paramref name="name"/> is 0, off or false; else null.
    /// </summary>
    public static string? Disabled(string name) =>
        Environment.GetEnvironmentVariable(name)?.Trim().ToLowerInvariant() is "0" or "off" or "false"
            ? $"disabled by {name}"
            : null;
}

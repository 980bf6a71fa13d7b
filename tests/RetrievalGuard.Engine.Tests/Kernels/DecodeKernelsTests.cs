using System.Text;
using RetrievalGuard.Engine.Kernels;
using RetrievalGuard.Engine.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Tests.Kernels;

/// <summary>
/// The fused decode kernels on a machine without a GPU: their source must compile with NVRTC for every shape the
/// engine may pick (CI installs Debian's libnvrtc and sets RGUARD_REQUIRE_NVRTC=1, so there a missing NVRTC fails);
/// their numbers are checked on the GPU by rguard-bench kernel-check and the parity run.
/// </summary>
public class DecodeKernelsTests
{
    public static TheoryData<ScalarType, int, int> Shapes => new()
    {
        { ScalarType.BFloat16, 128, 4 },  // Llama-3.1-8B, Mistral-7B
        { ScalarType.BFloat16, 128, 7 },  // Qwen2.5-7B
        { ScalarType.Float16, 64, 8 },
        { ScalarType.BFloat16, 32, 2 },   // the organism
        { ScalarType.Float32, 128, 4 },   // the GPU parity check's fp32 runs
        { ScalarType.Float32, 32, 1 },
        { ScalarType.BFloat16, 256, 8 },   // Gemma-sized heads
    };

    /// <summary>
    /// Skips (reported as Skipped, not Passed) where no NVRTC is installed, unless CI says it must be.
    /// </summary>
    private static void RequireNvrtc()
    {
        if (Nvrtc.Unavailable is null) return;
        Assert.False(Environment.GetEnvironmentVariable("RGUARD_REQUIRE_NVRTC") == "1",
            $"NVRTC is required here but unavailable: {Nvrtc.Unavailable}");
        Skip.If(true, $"NVRTC is not installed here: {Nvrtc.Unavailable}");
    }

    [SkippableTheory]
    [MemberData(nameof(Shapes))]
    public void SourceCompilesForEverySupportedShape(ScalarType dtype, int headDim, int group)
    {
        Assert.Null(DecodeKernels.UnsupportedReason(new Device(DeviceType.CUDA, 0), dtype, headDim, group));
        RequireNvrtc();
        // PTX for a virtual architecture every NVRTC since 11 knows; the engine compiles a CUBIN for the GPU in use.
        var ptx = Encoding.ASCII.GetString(Nvrtc.Compile(DecodeKernels.Source(), "DecodeKernels.cu",
            DecodeKernels.CompileOptions(dtype, headDim, group, "compute_80")));
        foreach (string kernel in new[] { "add_rmsnorm", "rope_write", "attend_split", "attend_combine", "swiglu" })
            Assert.Contains($".entry {kernel}(", ptx);
    }

    [SkippableFact]
    public void CompileErrorsCarryNvrtcsLog()
    {
        RequireNvrtc();
        var e = Assert.Throws<KernelCompileException>(() => Nvrtc.Compile(
            "extern \"C\" __global__ void broken() { undefined_name = 1; }", "broken.cu", ["-arch=compute_80"]));
        Assert.Contains("undefined_name", e.Message);
        Assert.Contains("broken.cu", e.Message);
    }

    [Fact]
    public void UnsupportedShapesAndDevicesSayWhy()
    {
        Assert.Equal("not a CUDA device", DecodeKernels.UnsupportedReason(CPU, ScalarType.BFloat16, 128, 4));
        Assert.Contains("head size 80",
            DecodeKernels.UnsupportedReason(new Device(DeviceType.CUDA, 0), ScalarType.BFloat16, 80, 4));
        Assert.Contains("head size 256",
            DecodeKernels.UnsupportedReason(new Device(DeviceType.CUDA, 0), ScalarType.Float32, 256, 4));
        Assert.Contains("dtype",
            DecodeKernels.UnsupportedReason(new Device(DeviceType.CUDA, 0), ScalarType.Float64, 128, 4));
        Assert.Contains("query heads",
            DecodeKernels.UnsupportedReason(new Device(DeviceType.CUDA, 0), ScalarType.BFloat16, 128, 32));
        Assert.Contains("shared memory",
            DecodeKernels.UnsupportedReason(new Device(DeviceType.CUDA, 0), ScalarType.BFloat16, 256, 16));
        Assert.Null(DecodeKernels.For(CPU, ScalarType.Float32, 32, 2, out string? reason));
        Assert.Equal("not a CUDA device", reason);
    }

    [Fact]
    public void SplitsShrinkToFitSharedMemory()
    {
        Assert.Equal(256, DecodeKernels.SplitMaxFor(128, 4));
        Assert.Equal(128, DecodeKernels.SplitMaxFor(128, 16));
        // scores + reduction buffers of the largest split stay within the 48 KB static limit
        foreach (var (d, g) in new[] { (128, 4), (128, 7), (256, 8), (64, 8), (128, 16) })
            Assert.True(4L * g * (DecodeKernels.SplitMaxFor(d, g) + 4 * d) <= 48 * 1024);
    }

    [Fact]
    public void NvrtcIsLookedForBesideTorchThenInCudaThenByName()
    {
        string root = Path.Combine(Path.GetTempPath(), $"rg-nvrtc-{Guid.NewGuid():N}");
        try
        {
            string torchLib = Directory.CreateDirectory(Path.Combine(root, "site-packages", "torch", "lib")).FullName;
            string wheel =
                Directory.CreateDirectory(Path.Combine(root, "site-packages", "nvidia", "cu13", "lib")).FullName;
            string cuda = Directory.CreateDirectory(Path.Combine(root, "cuda", "lib64")).FullName;
            foreach (string f in new[] { Path.Combine(wheel, "libnvrtc.so.13"),
                Path.Combine(wheel, "libnvrtc-builtins.so.13.0"), Path.Combine(cuda, "libnvrtc.so.12") })
                File.WriteAllText(f, "");
            var found = Nvrtc.Candidates(null, torchLib, ["/opt/x/libnvrtc.so.12.8", "/usr/lib/libc.so.6"],
                Path.Combine(root, "cuda"));
            Assert.Equal("/opt/x/libnvrtc.so.12.8", found[0]);                 // already mapped into the process
            Assert.Equal(Path.Combine(wheel, "libnvrtc.so.13"), found[1]);      // PyTorch's wheel beside torch
            Assert.True(found.IndexOf(Path.Combine(cuda, "libnvrtc.so.12")) > 1);
            Assert.DoesNotContain(found, f => f.Contains("builtins"));
            Assert.Equal("libnvrtc.so", found[^1]);

            // An explicit setting is the only candidate, and a wrong one is an error naming it.
            Assert.Equal([Path.Combine(wheel, "libnvrtc.so.13")], Nvrtc.Candidates(wheel, torchLib, [], null));
            var e = Assert.Throws<DllNotFoundException>(() =>
                Nvrtc.Candidates(Path.Combine(root, "missing.so"), torchLib, [], null));
            Assert.Contains("RGUARD_NVRTC", e.Message);
            Assert.Throws<DllNotFoundException>(() => Nvrtc.Candidates(torchLib, torchLib, [], null));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}

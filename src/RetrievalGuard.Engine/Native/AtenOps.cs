using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Native;

/// <summary>
/// libtorch operators that TorchSharp 0.107 does not wrap, called through their C++ entry points
/// (at::_ops::NAME::call, stable across libtorch 2.x). rms_norm is checked once against the composite it replaces;
/// bmm with a float32 output is used only on CUDA, for half inputs, where libtorch implements it (checked against
/// transformers by the GPU parity run, not at run time). When a symbol is missing, callers use the composite.
/// Set RGUARD_ATEN_OPS=0 to turn them off.
/// These calls bypass TorchSharp's error translation: a libtorch error inside one (only out-of-memory can occur with
/// the shapes the engine passes) ends the process instead of raising an exception.
/// </summary>
internal static unsafe class AtenOps
{
    /// <summary>std::optional&lt;double&gt; by value: {double, bool} (an SSE and an integer eightbyte).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct OptionalDouble
    {
        public double Value;
        public byte HasValue;
    }

    private sealed class Bindings
    {
        public string? Error;
        public delegate* unmanaged<nuint, IntPtr> OperatorNew;
        // at::Tensor at::_ops::rms_norm::call(const Tensor&, SymIntArrayRef, const optional<Tensor>&, optional<double>)
        public delegate* unmanaged<IntPtr, IntPtr, long*, nuint, IntPtr, OptionalDouble, IntPtr> RmsNorm;
        // at::Tensor at::_ops::bmm_dtype::call(const Tensor&, const Tensor&, ScalarType out_dtype)
        public delegate* unmanaged<IntPtr, IntPtr, IntPtr, sbyte, IntPtr> BmmDtype;
    }

    private static readonly Lazy<Bindings> Api = new(Resolve);
    private static int _rmsNormState; // 0 unknown, 1 verified, -1 unusable

    /// <summary>Why the fused operators are not used, or null when they are.</summary>
    public static string? Unavailable => Api.Value.Error;

    /// <summary>
    /// RMS norm over the last dimension in one libtorch call (input·rsqrt(mean(input²)+eps), computed in float32,
    /// cast back, times weight), or null when unavailable; callers fall back to the composite.
    /// </summary>
    public static Tensor? RmsNorm(Tensor input, Tensor weight, double eps, Func<Tensor> composite)
    {
        if (_rmsNormState < 0) return null;
        var api = Api.Value;
        if (api.Error is not null) { _rmsNormState = -1; return null; }
        var fused = CallRmsNorm(api, input, weight, eps);
        if (_rmsNormState == 0)
        {
            using var scope = NewDisposeScope();
            var expected = composite();
            double tolerance = input.dtype == ScalarType.Float32 ? 1e-5 : 2e-2;
            var expected32 = expected.to(ScalarType.Float32);
            bool same = (fused.to(ScalarType.Float32) - expected32).abs().max().item<float>()
                <= tolerance * Math.Max(1, expected32.abs().max().item<float>());
            _rmsNormState = same ? 1 : -1;
            if (!same) { fused.Dispose(); return null; }
        }
        return fused;
    }

    /// <summary>
    /// True when <see cref="BmmFloat32"/> can run for half-precision tensors on <paramref name="device"/>: libtorch's
    /// bmm with a float32 output (cuBLAS accumulates in float32 and does not round the result) exists on CUDA.
    /// </summary>
    public static bool HasFloat32Bmm(Device device, ScalarType dtype) =>
        device.type == TorchSharp.DeviceType.CUDA && dtype is ScalarType.BFloat16 or ScalarType.Float16
            && Api.Value is { Error: null, BmmDtype: not null };

    /// <summary>
    /// batch1 @ batch2 in float32 for half-precision inputs (check <see cref="HasFloat32Bmm"/> first).
    /// </summary>
    public static Tensor BmmFloat32(Tensor batch1, Tensor batch2)
    {
        var api = Api.Value;
        IntPtr result = api.OperatorNew((nuint)IntPtr.Size);
        api.BmmDtype(result, batch1.Handle, batch2.Handle, (sbyte)ScalarType.Float32);
        return Tensor.UnsafeCreateTensor(result);
    }

    private static Tensor CallRmsNorm(Bindings api, Tensor input, Tensor weight, double eps)
    {
        long shape = input.shape[^1];
        // const std::optional<at::Tensor>&: the weight's TensorImpl pointer, then the engaged flag.
        var optionalWeight = stackalloc IntPtr[2];
        optionalWeight[0] = *(IntPtr*)weight.Handle;
        optionalWeight[1] = 1;
        // becomes a heap at::Tensor, as TorchSharp's own handles are
        IntPtr result = api.OperatorNew((nuint)IntPtr.Size);
        api.RmsNorm(result, input.Handle, &shape, 1, (IntPtr)optionalWeight,
            new OptionalDouble { Value = eps, HasValue = 1 });
        return Tensor.UnsafeCreateTensor(result);
    }

    private static Bindings Resolve()
    {
        var b = new Bindings();
        try
        {
            if (Switches.Disabled(Switches.AtenOps) is { } off) throw new InvalidOperationException(off);
            TorchRuntime.EnsureInitialized();
            string torchCpu = NativeLibraries.Loaded("libtorch_cpu.so")
                ?? throw new DllNotFoundException("libtorch_cpu.so is not loaded");
            string stdcxx = NativeLibraries.Loaded("libstdc++.so")
                ?? throw new DllNotFoundException("libstdc++.so is not loaded");
            IntPtr torchLib = NativeLibrary.Load(torchCpu), cxx = NativeLibrary.Load(stdcxx);
            b.OperatorNew = (delegate* unmanaged<nuint, IntPtr>)NativeLibrary.GetExport(cxx, "_Znwm");
            b.RmsNorm = (delegate* unmanaged<IntPtr, IntPtr, long*, nuint, IntPtr, OptionalDouble, IntPtr>)
                NativeLibrary.GetExport(torchLib,
                    "_ZN2at4_ops8rms_norm4callERKNS_6TensorEN3c108ArrayRefINS5_6SymIntEEERKSt8optionalIS2_ES9_IdE");
            if (NativeLibrary.TryGetExport(torchLib, "_ZN2at4_ops9bmm_dtype4callERKNS_6TensorES4_N3c1010ScalarTypeE",
                out IntPtr bmm))
                b.BmmDtype = (delegate* unmanaged<IntPtr, IntPtr, IntPtr, sbyte, IntPtr>)bmm;
        }
        catch (Exception e)
        {
            b.Error = e.Message;
        }
        return b;
    }
}

/// <summary>Workarounds for TorchSharp wrappers whose behaviour differs from libtorch's documented one.</summary>
internal static class TorchSharpFixes
{
    // TorchSharp 0.107's baddbmm hands its three tensors to libtorch in rotated order (libtorch sees
    // self = batch2, batch1 = input, batch2 = batch1). Which order works is found once on tiny CPU tensors,
    // so a TorchSharp release that fixes it keeps working.
    private static readonly Lazy<bool> BaddbmmRotated = new(() =>
    {
        using var scope = NewDisposeScope();
        var input = full([1, 1, 2], Scalars.Of(3.0), float32);
        var batch1 = ones(1, 1, 3);
        var batch2 = ones(1, 3, 2);
        try
        {
            return input.baddbmm(batch1, batch2, 1, 0.5f)[0, 0, 0].item<float>() != 4.5f;
        }
        catch (Exception)
        {
            return true;
        }
    });

    /// <summary>beta·input + alpha·(batch1 @ batch2), with input broadcast to the product's shape.</summary>
    public static Tensor Baddbmm(Tensor input, Tensor batch1, Tensor batch2, float beta, float alpha) =>
        BaddbmmRotated.Value ? batch1.baddbmm(batch2, input, beta, alpha) : input.baddbmm(batch1, batch2, beta, alpha);
}

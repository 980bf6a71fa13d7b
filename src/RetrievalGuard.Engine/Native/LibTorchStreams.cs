using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Native;

/// <summary>
/// libtorch's CUDA streams (c10::cuda), which TorchSharp does not expose: the current stream, the stream pool and
/// the raw cudaStream_t behind a stream. Bound from the loaded libc10_cuda.so by mangled name; work that must run in
/// order with libtorch's (graph capture and replay, the engine's own kernels) goes on <see cref="Current"/>.
/// </summary>
internal static unsafe class LibTorchStreams
{
    /// <summary>c10::cuda::CUDAStream by value: {DeviceType int8, DeviceIndex int8, StreamId int64}.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct C10Stream
    {
        public sbyte DeviceType;
        public sbyte DeviceIndex;
        public long Id;
    }

    internal sealed class Bindings
    {
        public string? Error;
        public delegate* unmanaged<byte, sbyte, C10Stream> GetStreamFromPool;
        public delegate* unmanaged<sbyte, C10Stream> GetCurrentStream;
        public delegate* unmanaged<C10Stream, void> SetCurrentStream;
        public delegate* unmanaged<C10Stream*, IntPtr> RawStream;
    }

    private static readonly Lazy<Bindings> Bound = new(Resolve);

    public static Bindings Api => Bound.Value;

    /// <summary>The raw cudaStream_t libtorch issues work on now, for the current device.</summary>
    public static IntPtr Current()
    {
        var api = Api;
        if (api.Error is not null)
            throw new InvalidOperationException($"libtorch's CUDA streams are not available: {api.Error}.");
        var stream = api.GetCurrentStream(-1);
        return api.RawStream(&stream);
    }

    private static Bindings Resolve()
    {
        var b = new Bindings();
        try
        {
            TorchRuntime.EnsureInitialized();
            if (!TorchRuntime.CudaAvailable()) { b.Error = "the loaded libtorch has no usable CUDA"; return b; }
            // Make sure CUDA is initialised so that its libraries are mapped.
            using (var probe = zeros(1, device: CUDA)) { }
            string? c10 = NativeLibraries.Loaded("libc10_cuda.so");
            if (c10 is null) { b.Error = "libc10_cuda.so is not loaded"; return b; }
            IntPtr c = NativeLibrary.Load(c10);
            b.GetStreamFromPool = (delegate* unmanaged<byte, sbyte, C10Stream>)
                NativeLibraries.Export(c, "_ZN3c104cuda17getStreamFromPoolEba");
            b.GetCurrentStream = (delegate* unmanaged<sbyte, C10Stream>)
                NativeLibraries.Export(c, "_ZN3c104cuda20getCurrentCUDAStreamEa");
            b.SetCurrentStream = (delegate* unmanaged<C10Stream, void>)
                NativeLibraries.Export(c, "_ZN3c104cuda20setCurrentCUDAStreamENS0_10CUDAStreamE");
            b.RawStream = (delegate* unmanaged<C10Stream*, IntPtr>)
                NativeLibraries.Export(c, "_ZNK3c104cuda10CUDAStream6streamEv");
        }
        catch (Exception e)
        {
            b.Error = e.Message;
        }
        return b;
    }
}

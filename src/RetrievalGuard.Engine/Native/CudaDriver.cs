using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Native;

/// <summary>
/// The CUDA driver API (libcuda.so.1, installed with every NVIDIA driver), bound at run time: loads compiled kernels
/// and launches them on libtorch's current stream, in the primary context that libtorch's runtime uses, so a launch
/// is ordered with libtorch's work and a CUDA graph being captured records it.
/// </summary>
public static unsafe class CudaDriver
{
    /// <summary>Why the driver API cannot be used, or null when it can.</summary>
    public static string? Unavailable => Api.Value.Error;

    /// <summary>Compute capability and multiprocessor count of CUDA device <paramref name="ordinal"/>.</summary>
    public static (int Major, int Minor, int Multiprocessors) DeviceInfo(int ordinal)
    {
        var api = Require();
        int device, major, minor, sms;
        Check(api.DeviceGet(&device, ordinal), "cuDeviceGet");
        Check(api.DeviceGetAttribute(&major, 75, device), "cuDeviceGetAttribute(compute capability major)");
        Check(api.DeviceGetAttribute(&minor, 76, device), "cuDeviceGetAttribute(compute capability minor)");
        Check(api.DeviceGetAttribute(&sms, 16, device), "cuDeviceGetAttribute(multiprocessor count)");
        return (major, minor, sms);
    }

    /// <summary>
    /// Makes libtorch's context for device <paramref name="ordinal"/> current on this thread (no-op when it is).
    /// </summary>
    internal static void EnsureContext(int ordinal)
    {
        var api = Require();
        IntPtr current;
        Check(api.CtxGetCurrent(&current), "cuCtxGetCurrent");
        IntPtr primary = PrimaryContext(api, ordinal);
        if (current != primary) Check(api.CtxSetCurrent(primary), "cuCtxSetCurrent");
    }

    private static readonly Dictionary<int, IntPtr> PrimaryContexts = new();

    private static IntPtr PrimaryContext(Bindings api, int ordinal)
    {
        lock (PrimaryContexts)
        {
            if (PrimaryContexts.TryGetValue(ordinal, out IntPtr context)) return context;
            int device;
            Check(api.DeviceGet(&device, ordinal), "cuDeviceGet");
            Check(api.PrimaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain");
            PrimaryContexts[ordinal] = context;
            return context;
        }
    }

    /// <summary>A loaded CUBIN or PTX image on one device; functions are looked up by their extern "C" names.</summary>
    public sealed class Module
    {
        private readonly IntPtr _module;
        private readonly int _device;

        public Module(byte[] image, int deviceOrdinal)
        {
            var api = Require();
            _device = deviceOrdinal;
            EnsureContext(deviceOrdinal);
            IntPtr module;
            fixed (byte* p = image)
                Check(api.ModuleLoadData(&module, p), "cuModuleLoadData");
            _module = module;
        }

        public Function Get(string name)
        {
            var api = Require();
            IntPtr function;
            byte[] encoded = System.Text.Encoding.ASCII.GetBytes(name + "\0");
            fixed (byte* n = encoded)
                Check(api.ModuleGetFunction(&function, _module, n), $"cuModuleGetFunction({name})");
            return new Function(function, name, _device);
        }
    }

    /// <summary>A kernel of a loaded module.</summary>
    public readonly struct Function(IntPtr handle, string name, int device)
    {
        public string Name => name;

        /// <summary>
        /// Launches on libtorch's current stream with the arguments in <paramref name="args"/>, in declaration order.
        /// </summary>
        public void Launch((int X, int Y, int Z) grid, int threads, ref KernelArgs args, int sharedBytes = 0)
        {
            var api = Require();
            EnsureContext(device);
            IntPtr stream = LibTorchStreams.Current();
            void** pointers = stackalloc void*[args.Count];
            fixed (ulong* slots = &args.Slots[0])
            {
                for (int i = 0; i < args.Count; i++) pointers[i] = slots + i;
                int status = api.LaunchKernel(handle, (uint)grid.X, (uint)grid.Y, (uint)grid.Z, (uint)threads, 1, 1,
                    (uint)sharedBytes, stream, pointers, null);
                if (status != 0) Check(status, $"cuLaunchKernel({name}, grid {grid}, {threads} threads)");
            }
        }
    }

    [InlineArray(MaxArgs)]
    public struct ArgSlots
    {
        private ulong _first;
    }

    public const int MaxArgs = 32;

    /// <summary>
    /// Kernel arguments, each in an 8-byte slot (the driver copies each parameter's own size from it).
    /// </summary>
    public struct KernelArgs
    {
        internal ArgSlots Slots;
        public int Count { get; private set; }

        public void Add(long value) => Put((ulong)value);
        public void Add(int value) => Put((uint)value);
        public void Add(float value) => Put(BitConverter.SingleToUInt32Bits(value));
        public void Add(IntPtr pointer) => Put((ulong)pointer);

        /// <summary>The tensor's device address (storage offset included), or null for no tensor.</summary>
        public void Add(Tensor? tensor) => Put(tensor is null ? 0 : (ulong)TensorData.Pointer(tensor));

        private void Put(ulong value)
        {
            if (Count == MaxArgs)
                throw new InvalidOperationException($"A kernel takes at most {MaxArgs} arguments here.");
            Slots[Count++] = value;
        }
    }

    private static Bindings Require()
    {
        var api = Api.Value;
        if (api.Error is not null) throw new DllNotFoundException($"The CUDA driver API is not available: {api.Error}");
        return api;
    }

    private static void Check(int status, string call)
    {
        if (status == 0) return;
        var api = Api.Value;
        IntPtr text = IntPtr.Zero;
        if (api.GetErrorString is not null) api.GetErrorString(status, &text);
        throw new InvalidOperationException($"{call} failed with CUDA driver error {status}"
            + $"{(text == IntPtr.Zero ? "" : " (" + Marshal.PtrToStringAnsi(text) + ")")}.");
    }

    private static readonly Lazy<Bindings> Api = new(Bindings.Resolve);

    private sealed class Bindings
    {
        public string? Error;
        public delegate* unmanaged<uint, int> Init;
        public delegate* unmanaged<int*, int, int> DeviceGet;
        public delegate* unmanaged<int*, int, int, int> DeviceGetAttribute;
        public delegate* unmanaged<IntPtr*, int> CtxGetCurrent;
        public delegate* unmanaged<IntPtr, int> CtxSetCurrent;
        public delegate* unmanaged<IntPtr*, int, int> PrimaryCtxRetain;
        public delegate* unmanaged<IntPtr*, byte*, int> ModuleLoadData;
        public delegate* unmanaged<IntPtr*, IntPtr, byte*, int> ModuleGetFunction;
        public delegate* unmanaged<IntPtr, uint, uint, uint, uint, uint, uint, uint, IntPtr, void**, void**, int>
            LaunchKernel;
        public delegate* unmanaged<int, IntPtr*, int> GetErrorString;

        public static Bindings Resolve()
        {
            var b = new Bindings();
            try
            {
                if (!TorchRuntime.CudaAvailable())
                    throw new InvalidOperationException("the loaded libtorch has no usable CUDA");
                IntPtr lib = NativeLibrary.Load("libcuda.so.1");
                b.GetErrorString =
                    (delegate* unmanaged<int, IntPtr*, int>)NativeLibraries.Export(lib, "cuGetErrorString");
                b.Init = (delegate* unmanaged<uint, int>)NativeLibraries.Export(lib, "cuInit");
                b.DeviceGet = (delegate* unmanaged<int*, int, int>)NativeLibraries.Export(lib, "cuDeviceGet");
                b.DeviceGetAttribute =
                    (delegate* unmanaged<int*, int, int, int>)NativeLibraries.Export(lib, "cuDeviceGetAttribute");
                b.CtxGetCurrent = (delegate* unmanaged<IntPtr*, int>)NativeLibraries.Export(lib, "cuCtxGetCurrent");
                b.CtxSetCurrent = (delegate* unmanaged<IntPtr, int>)NativeLibraries.Export(lib, "cuCtxSetCurrent");
                b.PrimaryCtxRetain =
                    (delegate* unmanaged<IntPtr*, int, int>)NativeLibraries.Export(lib, "cuDevicePrimaryCtxRetain");
                b.ModuleLoadData =
                    (delegate* unmanaged<IntPtr*, byte*, int>)NativeLibraries.Export(lib, "cuModuleLoadData");
                b.ModuleGetFunction = (delegate* unmanaged<IntPtr*, IntPtr, byte*, int>)
                    NativeLibraries.Export(lib, "cuModuleGetFunction");
                b.LaunchKernel =
                    (delegate* unmanaged<IntPtr, uint, uint, uint, uint, uint, uint, uint, IntPtr, void**, void**, int>)
                    NativeLibraries.Export(lib, "cuLaunchKernel");
                int status = b.Init(0);
                if (status != 0) throw new InvalidOperationException($"cuInit failed with CUDA driver error {status}");
            }
            catch (Exception e)
            {
                b.Error = e.Message;
            }
            return b;
        }
    }
}

/// <summary>
/// Device addresses of tensors, from TorchSharp's bridge (THSTensor_data: data_ptr, storage offset included).
/// </summary>
internal static unsafe class TensorData
{
    private static readonly Lazy<IntPtr> DataFunction = new(() =>
    {
        TorchRuntime.EnsureInitialized();
        string bridge = NativeLibraries.Loaded("libLibTorchSharp.so")
            ?? throw new DllNotFoundException("libLibTorchSharp.so is not loaded");
        return NativeLibraries.Export(NativeLibrary.Load(bridge), "THSTensor_data");
    });

    public static IntPtr Pointer(Tensor tensor)
    {
        IntPtr data = ((delegate* unmanaged<IntPtr, IntPtr>)DataFunction.Value)(tensor.Handle);
        if (data == IntPtr.Zero && tensor.NumberOfElements > 0) torch.CheckForErrors();
        return data;
    }
}

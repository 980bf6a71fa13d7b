using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Native;

/// <summary>
/// A captured CUDA graph of libtorch work issued through TorchSharp, replayed with one launch. TorchSharp has
/// no graph API, so this binds what it needs at run time from the libraries the loaded CUDA libtorch already
/// uses: c10's stream pool (libtorch cannot be captured on its default stream) and the CUDA runtime's graph
/// calls. Anything missing makes <see cref="IsSupported"/> false with the reason; callers then run eagerly.
/// </summary>
/// <remarks>
/// Rules for captured work, which the decode step follows: no host synchronisation (no reads to the host, no
/// host-to-device copies), every input a device tensor at a fixed address, and shapes fixed per graph.
/// Tensors that the work returns are kept by the graph and rewritten by each replay; they are valid until the
/// next replay of any graph. Temporaries freed during capture go back to the capture stream's pool, which only
/// captures use, so eager work never lands on memory that a replay writes.
/// </remarks>
public sealed unsafe class CudaGraph : IDisposable
{
    private IntPtr _graph, _exec;
    private readonly List<Tensor> _kept;

    private CudaGraph(IntPtr graph, IntPtr exec, List<Tensor> kept)
    {
        (_graph, _exec, _kept) = (graph, exec, kept);
    }

    /// <summary>Nodes (kernels, copies) in the graph: the launches one replay saves.</summary>
    public int NodeCount
    {
        get
        {
            nuint count = 0;
            Check(Api.Value.GetNodes(_graph, IntPtr.Zero, &count), "cudaGraphGetNodes");
            return (int)count;
        }
    }

    /// <summary>Tensors returned by the captured work; rewritten by every <see cref="Replay"/>.</summary>
    public IReadOnlyList<Tensor> Outputs => _kept;

    /// <summary>
    /// True when graphs can be captured on <paramref name="device"/>; otherwise <paramref name="reason"/> says why.
    /// </summary>
    public static bool IsSupported(Device device, out string reason)
    {
        if (device.type != DeviceType.CUDA) { reason = "not a CUDA device"; return false; }
        if (Switches.Disabled(Switches.CudaGraphs) is { } off) { reason = off; return false; }
        var api = Api.Value;
        reason = api.Error ?? "";
        return api.Error is null;
    }

    /// <summary>
    /// Runs <paramref name="work"/> <paramref name="warmups"/> times on a side stream (so handles, workspaces and
    /// allocator blocks exist before capture), then captures one more run. The tensors it returns are moved out of
    /// any dispose scope and owned by the graph.
    /// </summary>
    public static CudaGraph Capture(Device device, Func<IReadOnlyList<Tensor>> work, int warmups = 2)
    {
        if (!IsSupported(device, out string reason))
            throw new NotSupportedException($"CUDA graphs are not available: {reason}.");
        var api = Api.Value;
        sbyte index = (sbyte)device.index;
        torch.cuda.synchronize(device);
        var streams = LibTorchStreams.Api;
        var previous = streams.GetCurrentStream(index);
        var side = SideStream(streams, index);
        IntPtr raw = streams.RawStream(&side);
        streams.SetCurrentStream(side);
        IntPtr graph = IntPtr.Zero;
        try
        {
            for (int i = 0; i < warmups; i++)
                using (NewDisposeScope()) work();
            Check(api.StreamSynchronize(raw), "cudaStreamSynchronize");
            Check(api.BeginCapture(raw, CaptureModeRelaxed), "cudaStreamBeginCapture");
            List<Tensor> kept;
            try
            {
                using var scope = NewDisposeScope();
                kept = work().ToList();
                foreach (var t in kept) t.DetachFromDisposeScope();
            }
            finally
            {
                // End the capture whatever happened, or the stream stays unusable.
                int ended = api.EndCapture(raw, out graph);
                if (ended != 0 && graph == IntPtr.Zero) Check(ended, "cudaStreamEndCapture");
            }
            Check(api.Instantiate(out IntPtr exec, graph, 0), "cudaGraphInstantiateWithFlags");
            return new CudaGraph(graph, exec, kept);
        }
        catch
        {
            if (graph != IntPtr.Zero) api.GraphDestroy(graph);
            throw;
        }
        finally
        {
            streams.SetCurrentStream(previous);
        }
    }

    /// <summary>Launches the graph on libtorch's current stream, ordered with the eager work around it.</summary>
    public void Replay()
    {
        ObjectDisposedException.ThrowIf(_exec == IntPtr.Zero, this);
        Check(Api.Value.Launch(_exec, LibTorchStreams.Current()), "cudaGraphLaunch");
    }

    public void Dispose()
    {
        if (_exec == IntPtr.Zero) return;
        var api = Api.Value;
        api.ExecDestroy(_exec);
        api.GraphDestroy(_graph);
        _exec = _graph = IntPtr.Zero;
        foreach (var t in _kept) t.Dispose();
        _kept.Clear();
    }

    private const int CaptureModeRelaxed = 2;
    private static readonly Dictionary<sbyte, LibTorchStreams.C10Stream> SideStreams = new();

    /// <summary>
    /// One capture stream per device, so that captures share its allocator pool instead of growing new ones.
    /// </summary>
    private static LibTorchStreams.C10Stream SideStream(LibTorchStreams.Bindings streams, sbyte device)
    {
        lock (SideStreams)
        {
            if (!SideStreams.TryGetValue(device, out var s))
                SideStreams[device] = s = streams.GetStreamFromPool(0, device);
            return s;
        }
    }

    private static void Check(int status, string call)
    {
        if (status == 0) return;
        var api = Api.Value;
        string text = api.ErrorString is null ? "" : " (" + Marshal.PtrToStringAnsi(api.ErrorString(status)) + ")";
        throw new InvalidOperationException($"{call} failed with CUDA error {status}{text}.");
    }

    private static readonly Lazy<Bindings> Api = new(Bindings.Resolve);

    private sealed class Bindings
    {
        public string? Error;
        public delegate* unmanaged<IntPtr, int, int> BeginCapture;
        public delegate* unmanaged<IntPtr, out IntPtr, int> EndCapture;
        public delegate* unmanaged<out IntPtr, IntPtr, ulong, int> Instantiate;
        public delegate* unmanaged<IntPtr, IntPtr, int> Launch;
        public delegate* unmanaged<IntPtr, int> ExecDestroy;
        public delegate* unmanaged<IntPtr, int> GraphDestroy;
        public delegate* unmanaged<IntPtr, int> StreamSynchronize;
        public delegate* unmanaged<int, IntPtr> ErrorString;
        public delegate* unmanaged<IntPtr, IntPtr, nuint*, int> GetNodes;

        public static Bindings Resolve()
        {
            var b = new Bindings();
            try
            {
                if (LibTorchStreams.Api.Error is string streams) { b.Error = streams; return b; }
                string? cudart = NativeLibraries.Loaded("libcudart.so");
                if (cudart is null)
                {
                    b.Error = "no libcudart.so is loaded "
                        + "(a libtorch with the CUDA runtime linked statically cannot be captured)";
                    return b;
                }
                IntPtr r = NativeLibrary.Load(cudart);
                b.BeginCapture = (delegate* unmanaged<IntPtr, int, int>)
                    NativeLibraries.Export(r, "cudaStreamBeginCapture");
                b.EndCapture = (delegate* unmanaged<IntPtr, out IntPtr, int>)
                    NativeLibraries.Export(r, "cudaStreamEndCapture");
                b.Instantiate = (delegate* unmanaged<out IntPtr, IntPtr, ulong, int>)
                    NativeLibraries.Export(r, "cudaGraphInstantiateWithFlags");
                b.Launch = (delegate* unmanaged<IntPtr, IntPtr, int>)NativeLibraries.Export(r, "cudaGraphLaunch");
                b.ExecDestroy = (delegate* unmanaged<IntPtr, int>)NativeLibraries.Export(r, "cudaGraphExecDestroy");
                b.GraphDestroy = (delegate* unmanaged<IntPtr, int>)NativeLibraries.Export(r, "cudaGraphDestroy");
                b.StreamSynchronize = (delegate* unmanaged<IntPtr, int>)
                    NativeLibraries.Export(r, "cudaStreamSynchronize");
                b.ErrorString = (delegate* unmanaged<int, IntPtr>)NativeLibraries.Export(r, "cudaGetErrorString");
                b.GetNodes = (delegate* unmanaged<IntPtr, IntPtr, nuint*, int>)
                    NativeLibraries.Export(r, "cudaGraphGetNodes");
            }
            catch (Exception e)
            {
                b.Error = e.Message;
            }
            return b;
        }
    }
}

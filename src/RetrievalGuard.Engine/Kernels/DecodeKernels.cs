using System.Reflection;
using RetrievalGuard.Engine.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Kernels;

/// <summary>
/// The fused kernels of the CUDA decode step (DecodeKernels.cu), compiled by NVRTC for one device, dtype, head size
/// and query-group size. Per layer they replace the residual adds and norms, RoPE and the cache writes, attention
/// (a split-key "flash-decoding" pass and its merge) and SwiGLU: about 10 kernels instead of about 26, which is what
/// batch-1 decode time is made of once the weight products run at memory bandwidth.
/// <para>Used only on CUDA; <see cref="For"/> says why not when it cannot be (no NVRTC, an unsupported head size,
/// <c>RGUARD_FUSED_KERNELS=0</c>), and the step then runs libtorch's composite operators.</para>
/// </summary>
public sealed class DecodeKernels
{
    private const int AttendThreads = 128;   // passed to the source as ATTEND_THREADS
    private const int MinSplit = 32;
    private static readonly Dictionary<(int Device, ScalarType DType, int HeadDim, int Group),
        (DecodeKernels? Kernels, string? Reason)> Compiled = new();

    private readonly CudaDriver.Function _addRmsNorm, _ropeWrite, _attendSplit, _attendCombine, _swiglu;
    private readonly int _multiprocessors;

    private DecodeKernels(CudaDriver.Module module, int headDim, int group, int splitMax, int multiprocessors)
    {
        (HeadDim, Group, SplitMax, _multiprocessors) = (headDim, group, splitMax, multiprocessors);
        _addRmsNorm = module.Get("add_rmsnorm");
        _ropeWrite = module.Get("rope_write");
        _attendSplit = module.Get("attend_split");
        _attendCombine = module.Get("attend_combine");
        _swiglu = module.Get("swiglu");
    }

    public int HeadDim { get; }
    public int Group { get; }

    /// <summary>Most key positions one attention block handles (a power of two, bounded by shared memory).</summary>
    public int SplitMax { get; }

    /// <summary>
    /// The kernels for a model of this shape on <paramref name="device"/>, compiled once per process; null with the
    /// reason when unavailable.
    /// </summary>
    public static DecodeKernels? For(Device device, ScalarType dtype, int headDim, int group, out string? reason)
    {
        reason = UnsupportedReason(device, dtype, headDim, group);
        if (reason is not null) return null;
        int ordinal = Math.Max(0, device.index);
        var key = (ordinal, dtype, headDim, group);
        lock (Compiled)
        {
            if (!Compiled.TryGetValue(key, out var entry))
            {
                try
                {
                    entry = (Build(ordinal, dtype, headDim, group), null);
                }
                catch (Exception e)
                {
                    entry = (null, e.Message);
                }
                Compiled[key] = entry;
            }
            reason = entry.Reason;
            return entry.Kernels;
        }
    }

    /// <summary>
    /// Why these kernels cannot serve the shape, checked before anything native is touched; null when they can.
    /// </summary>
    internal static string? UnsupportedReason(Device device, ScalarType dtype, int headDim, int group)
    {
        if (device.type != DeviceType.CUDA) return "not a CUDA device";
        if (Switches.Disabled(Switches.FusedKernels) is { } off) return off;
        int elementSize =
            dtype switch { ScalarType.Float32 => 4, ScalarType.BFloat16 or ScalarType.Float16 => 2, _ => 0 };
        if (elementSize == 0) return $"dtype {dtype} is not supported (float32, bfloat16, float16)";
        // A key row is read as 16-byte vectors by a power-of-two number of lanes, at most a warp.
        int lanes = headDim * elementSize / 16;
        if (headDim * elementSize % 16 != 0 || lanes < 1 || lanes > 32 || (lanes & (lanes - 1)) != 0)
            return $"head size {headDim} in {dtype} is not supported "
                + "(it must fill 1–32 16-byte vectors, a power of two)";
        if (group < 1 || group > 16) return $"{group} query heads per KV head is not supported (1–16)";
        if (SplitMaxFor(headDim, group) < MinSplit)
            return $"head size {headDim} with {group} query heads per KV head "
                + "needs more shared memory than a block has";
        return null;
    }

    /// <summary>
    /// The largest power-of-two split (≤ 256) whose scores and reduction buffers fit in 44 KB of shared memory.
    /// </summary>
    internal static int SplitMaxFor(int headDim, int group)
    {
        int split = 256;
        while (split >= MinSplit && 4L * group * (split + AttendThreads / 32 * headDim) > 44 * 1024) split /= 2;
        return split;
    }

    /// <summary>The kernel source, as embedded in this assembly.</summary>
    public static string Source()
    {
        using var stream =
            Assembly.GetExecutingAssembly().GetManifestResourceStream("RetrievalGuard.Engine.Kernels.DecodeKernels.cu")
            ?? throw new InvalidOperationException(
                "The embedded kernel source DecodeKernels.cu is missing from the engine assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>NVRTC options for the shape: the constants the source expects and the target architecture.</summary>
    internal static List<string> CompileOptions(ScalarType dtype, int headDim, int group, string architecture) =>
    [
        $"-arch={architecture}", "-default-device", "-std=c++17",
        $"-DDTYPE={(dtype == ScalarType.Float32 ? 0 : dtype == ScalarType.BFloat16 ? 1 : 2)}",
        $"-DHEAD_DIM={headDim}", $"-DGROUP={group}",
        $"-DSPLIT_MAX={SplitMaxFor(headDim, group)}", $"-DATTEND_THREADS={AttendThreads}",
    ];

    private static DecodeKernels Build(int ordinal, ScalarType dtype, int headDim, int group)
    {
        var (major, minor, sms) = CudaDriver.DeviceInfo(ordinal);
        var image = Nvrtc.Compile(Source(), "DecodeKernels.cu",
            CompileOptions(dtype, headDim, group, $"sm_{major}{minor}"));
        return new DecodeKernels(new CudaDriver.Module(image, ordinal), headDim, group,
            SplitMaxFor(headDim, group), sms);
    }

    /// <summary>
    /// residual += delta (when given; in place), then returns weight · rmsnorm(residual). residual and delta are
    /// [rows, hidden], contiguous, in the model dtype.
    /// </summary>
    public Tensor AddRmsNorm(Tensor residual, Tensor? delta, Tensor weight, double eps)
    {
        RequireContiguous(residual, nameof(residual));
        if (delta is not null) RequireContiguous(delta, nameof(delta));
        long rows = residual.shape[0], hidden = residual.shape[1];
        var output = empty_like(residual);
        var args = new CudaDriver.KernelArgs();
        args.Add(residual); args.Add(delta); args.Add(weight);
        args.Add(output); args.Add((int)hidden); args.Add((float)eps);
        _addRmsNorm.Launch(((int)rows, 1, 1), (int)Math.Min(1024, (hidden + 31) / 32 * 32), ref args);
        return output;
    }

    /// <summary>
    /// Rotates queries and keys of qkv [rows, (heads + 2·kv heads)·headDim] (queries in place) and writes keys and
    /// values into the storage at each row's position (positions: int64 [rows] on the device).
    /// </summary>
    public void RopeWrite(Tensor qkv, int heads, int kvHeads, Tensor cos, Tensor sinSigned, Tensor positions,
        Tensor keys, Tensor valueChunks, int storedPositions, int chunkLength)
    {
        RequireContiguous(qkv, nameof(qkv));
        long rows = qkv.shape[0];
        var args = new CudaDriver.KernelArgs();
        args.Add(qkv); args.Add(heads); args.Add(kvHeads); args.Add(cos); args.Add(sinSigned); args.Add(positions);
        args.Add(keys); args.Add(valueChunks); args.Add((int)rows); args.Add(storedPositions); args.Add(chunkLength);
        _ropeWrite.Launch(((int)rows, heads + 2 * kvHeads, 1), HeadDim / 2, ref args);
    }

    /// <summary>
    /// Split length for a key window: the largest that still gives about two blocks per multiprocessor.
    /// </summary>
    public int SplitLength(int keyLength, int rows, int kvHeads, int chunkLength)
    {
        int split = Math.Min(SplitMax, chunkLength);
        while (split > MinSplit && (long)keyLength / split * rows * kvHeads < 2L * _multiprocessors) split /= 2;
        return split;
    }

    /// <summary>Scratch of one decode step's attention, shared by its layers.</summary>
    public sealed record Workspace(Tensor PartMax, Tensor PartSum, Tensor PartAcc, int Splits, int SplitLength);

    public Workspace CreateWorkspace(int rows, int heads, int keyLength, int splitLength, Device device)
    {
        int splits = keyLength / splitLength;
        long count = (long)rows * heads * splits;
        return new Workspace(empty(count, dtype: float32, device: device), empty(count, dtype: float32, device: device),
            empty(count * HeadDim, dtype: float32, device: device), splits, splitLength);
    }

    /// <summary>
    /// Attention of each row's newest query (rotated in qkv) over key positions [0, keyLength) of the storage, with the
    /// causal and sliding-window limits applied per row. Returns [rows, heads·headDim] in the model dtype. With a
    /// probe, heads with probeSlot[head] ≥ 0 get their raw scores in probeScores [rows, probe heads, keyLength] and
    /// their log-sum-exp in probeLse [rows, probe heads] (weights = exp(score − lse)).
    /// </summary>
    public Tensor Attend(Tensor qkv, int heads, int kvHeads, Tensor keys, Tensor valueChunks, Tensor positions,
        int storedPositions, int chunkLength, int keyLength, int slidingWindow, Workspace work,
        Tensor? probeSlot = null, Tensor? probeScores = null, Tensor? probeLse = null)
    {
        int rows = (int)qkv.shape[0];
        int probeHeads = probeScores is null ? 0 : (int)probeScores.shape[1];
        var output = empty([rows, (long)heads * HeadDim], dtype: qkv.dtype, device: qkv.device);
        var args = new CudaDriver.KernelArgs();
        args.Add(qkv); args.Add((int)qkv.shape[1]); args.Add(keys); args.Add(valueChunks); args.Add(positions);
        args.Add(rows); args.Add(kvHeads); args.Add(storedPositions); args.Add(chunkLength);
        args.Add(work.SplitLength); args.Add(work.Splits); args.Add(slidingWindow);
        args.Add((float)(1 / Math.Sqrt(HeadDim)));
        args.Add(work.PartMax); args.Add(work.PartSum); args.Add(work.PartAcc);
        args.Add(probeSlot); args.Add(probeScores); args.Add(probeHeads); args.Add(keyLength);
        _attendSplit.Launch((work.Splits, rows * kvHeads, 1), AttendThreads, ref args);

        var merge = new CudaDriver.KernelArgs();
        merge.Add(work.PartMax); merge.Add(work.PartSum); merge.Add(work.PartAcc);
        merge.Add(work.Splits); merge.Add(heads);
        merge.Add(output); merge.Add(probeSlot); merge.Add(probeLse); merge.Add(probeHeads);
        _attendCombine.Launch((rows * heads, 1, 1), HeadDim, ref merge);
        return output;
    }

    /// <summary>silu(gate)·up from the fused gate/up product [rows, 2·intermediate] → [rows, intermediate].</summary>
    public Tensor SwiGlu(Tensor gateUp)
    {
        RequireContiguous(gateUp, nameof(gateUp));
        long rows = gateUp.shape[0], intermediate = gateUp.shape[1] / 2, total = rows * intermediate;
        var output = empty([rows, intermediate], dtype: gateUp.dtype, device: gateUp.device);
        var args = new CudaDriver.KernelArgs();
        args.Add(gateUp); args.Add(output); args.Add((int)intermediate); args.Add(total);
        _swiglu.Launch(((int)((total + 255) / 256), 1, 1), 256, ref args);
        return output;
    }

    private static void RequireContiguous(Tensor t, string name)
    {
        if (!t.is_contiguous())
            throw new ArgumentException($"{name} must be contiguous for the fused decode kernels.", name);
    }
}

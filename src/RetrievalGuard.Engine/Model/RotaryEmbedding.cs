using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Model;

/// <summary>
/// RoPE tables computed as Hugging Face does (fp32 inverse frequencies, llama3/linear scaling, cos/sin of
/// [freqs, freqs]) and kept on the device; grown by doubling so decode steps only slice them.
/// </summary>
public sealed class RotaryEmbedding : IDisposable
{
    private readonly Tensor _inverseFrequencies; // [headDim / 2] float32 on CPU
    private readonly Device _device;
    private readonly ScalarType _dtype;
    private Tensor? _cos; // [length, headDim] in the model dtype
    private Tensor? _sinSigned; // sin with the first half negated: rotate_half(x)·sin = roll(x, half)·sinSigned
    private long _length;

    public RotaryEmbedding(ModelConfig config, Device device, ScalarType dtype)
    {
        _device = device;
        _dtype = dtype;
        _inverseFrequencies = InverseFrequencies(config).DetachFromDisposeScope();
    }

    /// <summary>cos and signed sin for positions [start, start + count), each [count, headDim].</summary>
    public (Tensor Cos, Tensor SinSigned) Slice(long start, long count)
    {
        EnsureLength(start + count);
        return (_cos!.narrow(0, start, count), _sinSigned!.narrow(0, start, count));
    }

    /// <summary>
    /// x·cos + rotate_half(x)·sin in three kernels: rotate_half(x) is [−x₂, x₁], which is roll(x, half)·[−1…, +1…],
    /// and the sign lives in the signed sin table. cos and sinSigned broadcast against x's last two dimensions.
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sinSigned) =>
        addcmul(x * cos, x.roll(x.shape[^1] / 2, -1), sinSigned, Scalars.One);

    /// <summary>Bumped each time the tables are rebuilt (their addresses change); captured graphs check it.</summary>
    public int Version { get; private set; }

    /// <summary>
    /// Whole tables covering at least <paramref name="length"/> positions: cos and signed sin, [positions, headDim].
    /// </summary>
    public (Tensor Cos, Tensor SinSigned) Tables(long length)
    {
        EnsureLength(length);
        return (_cos!, _sinSigned!);
    }

    private void EnsureLength(long needed)
    {
        if (needed <= _length) return;
        long length = Math.Max(needed, Math.Max(256, _length * 2));
        using (NewDisposeScope())
        {
            var positions = Scalars.Range(length, _device, float32);
            var freqs = outer(positions, _inverseFrequencies.to(_device));
            var emb = cat([freqs, freqs], dim: -1);
            _cos?.Dispose();
            _sinSigned?.Dispose();
            _cos = emb.cos().to(_dtype).DetachFromDisposeScope();
            var sin = emb.sin().to(_dtype);
            long half = sin.shape[1] / 2;
            _sinSigned = cat([sin.narrow(1, 0, half).neg(), sin.narrow(1, half, half)], 1).DetachFromDisposeScope();
        }
        _length = length;
        Version++;
    }

    /// <summary>Hugging Face's rope init functions (default, linear, llama3), in float32 like theirs.</summary>
    public static Tensor InverseFrequencies(ModelConfig config)
    {
        using var scope = NewDisposeScope();
        int dim = config.HeadDim;
        using var two = 2L.ToScalar();
        using var dims = ((long)dim).ToScalar();
        var exponents = arange(Scalars.Of(0L), dims, two, int64).to(float32) / dims;
        var inv = pow(tensor((float)config.RopeTheta), exponents).reciprocal();
        var scaling = config.RopeScaling;
        if (scaling is not null)
        {
            switch (scaling.Type)
            {
                case "linear":
                    inv = inv / Scalars.Of((double)(float)scaling.Factor);
                    break;
                case "llama3":
                    // The same operations as transformers' _compute_llama3_parameters, numbers as kept Scalars.
                    double factor = scaling.Factor, low = scaling.LowFreqFactor, high = scaling.HighFreqFactor;
                    double oldContext = scaling.OriginalMaxPositionEmbeddings;
                    var lowFreqWavelen = Scalars.Of(oldContext / low);
                    var highFreqWavelen = Scalars.Of(oldContext / high);
                    var wavelen = inv.reciprocal() * Scalars.Of(2 * Math.PI);
                    var scaled = where(wavelen > lowFreqWavelen, inv / Scalars.Of(factor), inv);
                    var smooth = (wavelen.reciprocal() * Scalars.Of(oldContext) - Scalars.Of(low))
                        / Scalars.Of(high - low);
                    var smoothed = (smooth.negative().Plus(Scalars.One) * scaled / Scalars.Of(factor))
                        .Plus(smooth * scaled);
                    var medium = (wavelen >= highFreqWavelen).logical_and(wavelen <= lowFreqWavelen);
                    inv = where(medium, smoothed, scaled);
                    break;
                default:
                    throw new NotSupportedException(
                        $"rope_scaling type '{scaling.Type}' is not supported (supported: default, linear, llama3).");
            }
        }
        return inv.to(float32).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        _cos?.Dispose();
        _sinSigned?.Dispose();
        _inverseFrequencies.Dispose();
    }
}

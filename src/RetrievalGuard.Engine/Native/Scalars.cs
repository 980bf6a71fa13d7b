using System.Collections.Concurrent;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Native;

/// <summary>
/// Numbers handed to tensor ops as Scalars that stay alive through the native call.
/// </summary>
/// <remarks>
/// TorchSharp 0.107 turns a .NET number into a temporary <see cref="Scalar"/> (so does <c>a + b</c>, for its alpha of
/// 1) and passes libtorch only its handle. Nothing holds the temporary during the call, so a garbage collection on any
/// thread may run its finalizer and free it while libtorch still reads it: "Expected false to be true" from
/// <c>Scalar::toFloat</c>, or a silently wrong number (dotnet/TorchSharp#1434 and #1496, open). So the engine never
/// lets TorchSharp make a Scalar: constants and configuration values come from <see cref="Of(long)"/> and
/// <see cref="Of(double)"/>, kept for the life of the process; values that change with every call (positions, a
/// request's temperature) are made with <c>using var s = value.ToScalar()</c>. The rule is checked on the compiled
/// engine by <c>ScalarLifetimeTests</c>.
/// </remarks>
public static class Scalars
{
    private static readonly ConcurrentDictionary<long, Scalar> Integers = new();
    private static readonly ConcurrentDictionary<double, Scalar> Reals = new();

    static Scalars()
    {
        // Making a Scalar loads libtorch: through the engine's loader, not TorchSharp's default probing.
        TorchRuntime.EnsureInitialized();
        One = Of(1L);
        NegativeInfinity = Of(double.NegativeInfinity);
    }

    /// <summary>The integer 1: the alpha of <c>a.add(b, Scalars.One)</c>, which <c>a + b</c> makes afresh.</summary>
    public static Scalar One { get; }

    /// <summary>−∞ (float), the masked score.</summary>
    public static Scalar NegativeInfinity { get; }

    /// <summary>An integer Scalar kept for the process; for constants and values from a small set (configuration,
    /// bucket sizes), not for per-call values, which would grow the cache.</summary>
    public static Scalar Of(long value) => Integers.GetOrAdd(value, static v => v.ToScalar());

    /// <summary>A floating-point Scalar kept for the process; same terms as <see cref="Of(long)"/>.</summary>
    public static Scalar Of(double value) => Reals.GetOrAdd(value, static v => v.ToScalar());

    /// <summary>[start, end) in steps of 1 (arange makes its own step and bounds temporary Scalars).</summary>
    public static Tensor Range(long start, long end, Device? device = null, ScalarType dtype = ScalarType.Int64)
    {
        using var from = start.ToScalar();
        using var to = end.ToScalar();
        return arange(from, to, One, dtype, device);
    }

    /// <summary>[0, count) in steps of 1.</summary>
    public static Tensor Range(long count, Device? device = null, ScalarType dtype = ScalarType.Int64) =>
        Range(0, count, device, dtype);

    /// <summary><paramref name="a"/> + <paramref name="b"/> without the temporary alpha of <c>a + b</c>.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary><paramref name="a"/> + a kept Scalar (<c>add(Scalar)</c> too makes a temporary alpha).</summary>
    public static Tensor Plus(this Tensor a, Scalar b) => a.add(b, One);
}

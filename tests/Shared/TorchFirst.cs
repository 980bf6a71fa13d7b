using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using RetrievalGuard.Engine.Native;

namespace RetrievalGuard.Tests;

/// <summary>
/// Loads libtorch the engine's way (<see cref="TorchRuntime"/>: the Debian 12 bridge fix, RGUARD_LIBTORCH) when the
/// test assembly loads. A test that makes tensors directly would otherwise, when xunit happens to run it first, let
/// TorchSharp's own loader go first, which fails on Debian 12 for the rest of the process (CI saw 123 Engine tests
/// fail at once that way).
/// </summary>
internal static class TorchFirst
{
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255", Justification = "A test assembly, not a library: load order is the point.")]
    internal static void Load() => TorchRuntime.EnsureInitialized();
}

using RetrievalGuard.Engine.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine;

/// <summary>Parses the device and dtype names users type (cpu, cuda, cuda:1; fp32, bf16, fp16, auto).</summary>
public static class ComputeOptions
{
    public static Device ParseDevice(string name)
    {
        TorchRuntime.EnsureInitialized();
        string n = name.Trim().ToLowerInvariant();
        if (n == "cpu") return CPU;
        if (n == "cuda" || n.StartsWith("cuda:", StringComparison.Ordinal))
        {
            if (!TorchRuntime.CudaAvailable())
                throw new NotSupportedException(
                    $"Device '{name}' was asked for, but the loaded libtorch " +
                    $"({TorchRuntime.Info.LibTorchDirectory}) has no usable CUDA. " +
                    $"Point {Switches.LibTorch} at a CUDA libtorch (e.g. PyTorch's torch/lib) " +
                    "or build with -p:TorchFlavor=cuda.");
            int index = n == "cuda" ? 0
                : int.TryParse(n[5..], out int i) && i >= 0 ? i
                : throw new ArgumentException($"'{name}' is not a device: use cpu, cuda or cuda:N.");
            int count = (int)torch.cuda.device_count();
            if (index >= count)
                throw new ArgumentException($"Device '{name}' does not exist: {count} CUDA device(s) are visible.");
            return new Device(DeviceType.CUDA, index);
        }
        throw new ArgumentException($"'{name}' is not a device: use cpu, cuda or cuda:N.");
    }

    /// <summary>
    /// "auto" picks the checkpoint's dtype on CUDA and float32 on CPU (CPU kernels for half types are slow and
    /// float32 keeps tests exact).
    /// </summary>
    public static ScalarType ParseDType(string name, Device device, string? checkpointDtype)
    {
        string n = name.Trim().ToLowerInvariant();
        return n switch
        {
            "auto" => device.type == DeviceType.CPU
                ? ScalarType.Float32
                : ParseDType(checkpointDtype ?? "bfloat16", device, null),
            "float32" or "fp32" or "f32" or "float" => ScalarType.Float32,
            "bfloat16" or "bf16" => ScalarType.BFloat16,
            "float16" or "fp16" or "f16" or "half" => ScalarType.Float16,
            _ => throw new ArgumentException($"'{name}' is not a supported dtype: use auto, fp32, bf16 or fp16."),
        };
    }
}

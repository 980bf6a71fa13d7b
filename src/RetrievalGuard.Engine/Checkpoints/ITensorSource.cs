using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Checkpoints;

/// <summary>Named tensors as a checkpoint stores them (name → CPU tensor in the stored dtype).</summary>
public interface ITensorSource
{
    /// <summary>Where the tensors come from, for error messages (a folder or file).</summary>
    string Location { get; }

    IEnumerable<string> Names { get; }

    bool Contains(string name);

    /// <summary>The shape as stored, without reading the data.</summary>
    long[] ShapeOf(string name);

    /// <summary>A fresh CPU tensor the caller owns.</summary>
    Tensor Read(string name);
}

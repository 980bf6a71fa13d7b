using System.Reflection;
using Mono.Cecil;
using Mono.Cecil.Cil;

namespace RetrievalGuard.Tests;

/// <summary>
/// Finds, in a compiled assembly, the places where TorchSharp would hand libtorch a Scalar that nothing keeps alive
/// (see RetrievalGuard.Engine.Native.Scalars): a number converted to a Scalar and passed on directly, a Scalar local
/// never disposed, or a call to a TorchSharp method that makes such a temporary itself (found by reading
/// TorchSharp's own IL, so a release that fixes a method drops it from the list).
/// </summary>
public static class ScalarLifetimeScan
{
    private const string ScalarType = "TorchSharp.Scalar";
    private const string KeeperType = "RetrievalGuard.Engine.Native.Scalars";

    private static readonly Lazy<HashSet<string>> UnsafeTorchMethods = new(FindUnsafeTorchMethods);

    /// <summary>"file:line  what" for every unsafe place in <paramref name="assembly"/>; empty when there is none.
    /// </summary>
    public static IReadOnlyList<string> Problems(Assembly assembly)
    {
        var module = ReadModule(assembly.Location);
        var problems = new List<string>();
        foreach (var method in module.GetTypes().SelectMany(t => t.Methods).Where(m => m.HasBody))
        {
            if (method.DeclaringType.FullName.StartsWith(KeeperType, StringComparison.Ordinal)) continue;
            var body = method.Body.Instructions;
            bool disposesOrKeeps = body.Any(i => i.Operand is MethodReference r && KeepsAlive(r));
            foreach (var ins in body)
            {
                if (ins.Operand is not MethodReference called) continue;
                string? why = null;
                if (MakesScalar(called))
                {
                    bool stored = ins.Next is { } next && (IsStoreToLocal(next.OpCode) ||
                        next.OpCode == OpCodes.Stsfld || next.OpCode == OpCodes.Stfld);
                    if (!stored) why = "a number becomes a temporary Scalar";
                    else if (IsStoreToLocal(ins.Next!.OpCode) && !disposesOrKeeps)
                        why = "a Scalar local is never disposed";
                }
                else if (UnsafeTorchMethods.Value.Contains(called.FullName))
                {
                    why = $"{called.DeclaringType.Name}.{called.Name}" +
                          $"({string.Join(", ", called.Parameters.Select(p => p.ParameterType.Name))}) " +
                          "makes a temporary Scalar";
                }
                if (why is not null) problems.Add($"{Where(method, ins)}  {why}");
            }
        }
        return problems;
    }

    private static ModuleDefinition ReadModule(string path) => ModuleDefinition.ReadModule(path,
        new ReaderParameters { ReadSymbols = File.Exists(Path.ChangeExtension(path, ".pdb")) });

    private static bool MakesScalar(MethodReference m) =>
        m.DeclaringType.FullName == ScalarType && m.Name == "op_Implicit"
        || m.DeclaringType.FullName == "TorchSharp.ScalarExtensionMethods" && m.Name == "ToScalar";

    private static bool KeepsAlive(MethodReference m) =>
        m.DeclaringType.FullName == ScalarType && m.Name == "Dispose"
        || m.DeclaringType.FullName == "System.IDisposable" && m.Name == "Dispose"
        || m.DeclaringType.FullName == "System.GC" && m.Name == "KeepAlive";

    private static bool IsStoreToLocal(OpCode op) => op.Code is Code.Stloc or Code.Stloc_S or Code.Stloc_0
        or Code.Stloc_1 or Code.Stloc_2 or Code.Stloc_3;

    /// <summary>TorchSharp methods that make a Scalar and never dispose it, and (transitively) their callers there.
    /// </summary>
    private static HashSet<string> FindUnsafeTorchMethods()
    {
        var torch = ReadModule(typeof(TorchSharp.Scalar).Assembly.Location);
        var methods = torch.GetTypes().SelectMany(t => t.Methods).Where(m => m.HasBody).ToList();
        var calls = methods.ToDictionary(m => m, m => m.Body.Instructions
            .Select(i => i.Operand).OfType<MethodReference>().ToList());
        var unsafeMethods = methods
            .Where(m => m.DeclaringType.FullName != ScalarType && calls[m].Any(MakesScalar) &&
                        !calls[m].Any(c => c.DeclaringType.FullName == ScalarType && c.Name == "Dispose"))
            .Select(m => m.FullName).ToHashSet();
        for (bool grew = true; grew;)
        {
            grew = false;
            foreach (var m in methods)
                if (!unsafeMethods.Contains(m.FullName) && calls[m].Any(c => unsafeMethods.Contains(c.FullName)))
                    grew |= unsafeMethods.Add(m.FullName);
        }
        return unsafeMethods;
    }

    private static string Where(MethodDefinition method, Instruction at)
    {
        var point = method.Body.Instructions.Where(i => i.Offset <= at.Offset).Reverse()
            .Select(i => method.DebugInformation.GetSequencePoint(i)).FirstOrDefault(p => p is { IsHidden: false });
        return point is null
            ? method.FullName
            : $"{Path.GetFileName(point.Document.Url)}:{point.StartLine} ({method.DeclaringType.Name}.{method.Name})";
    }
}

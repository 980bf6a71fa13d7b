using RetrievalGuard.Engine;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Guard.Tests.Support;

/// <summary>The shipped organism and its head map, loaded once per test class.</summary>
public sealed class OrganismFixture : IDisposable
{
    public static string ModelFolder => RepoPaths.Path("samples", "models", "organism");

    public LanguageModel Model { get; } = LanguageModel.Load(ModelFolder);

    public HeadMap Map { get; } = HeadMapCatalog.FindFor(ModelFolder)
        ?? throw new InvalidOperationException("The shipped organism has no head map in headmaps/.");

    public HallucinationGuard Guard(RetrievalGuard.Guard.Risk.GuardCalibration? calibration = null) =>
        new(Model, Map, calibration);

    public void Dispose() => Model.Dispose();
}

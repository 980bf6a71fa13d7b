using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.SemanticKernel.ChatCompletion;
using RetrievalGuard.Engine;
using RetrievalGuard.Extensions.AI;
using RetrievalGuard.Guard;
using RetrievalGuard.SemanticKernel;

// In Semantic Kernel's namespace, as its own connectors' registration methods are.
namespace Microsoft.SemanticKernel;

/// <summary>Registers the local model, guarded, as a chat completion service (and its guard for filters and
/// plugins).</summary>
public static class RetrievalGuardKernelBuilderExtensions
{
    /// <param name="modelFolder">A Hugging Face checkpoint folder; its head map and calibration are found by
    /// fingerprint.</param>
    /// <param name="serviceId">The key of the service (SK's service id); unkeyed when null.</param>
    public static IKernelBuilder AddRetrievalGuardChatCompletion(this IKernelBuilder builder, string modelFolder,
        string? serviceId = null, LoadOptions? loadOptions = null, GuardPolicy? policy = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddRetrievalGuardChatCompletion(modelFolder, serviceId, loadOptions, policy);
        return builder;
    }

    /// <summary>The same, for a guard the caller already made.</summary>
    public static IKernelBuilder AddRetrievalGuardChatCompletion(this IKernelBuilder builder, HallucinationGuard guard,
        string? serviceId = null, GuardPolicy? policy = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddRetrievalGuardChatCompletion(guard, serviceId, policy);
        return builder;
    }

    public static IServiceCollection AddRetrievalGuardChatCompletion(this IServiceCollection services,
        string modelFolder, string? serviceId = null, LoadOptions? loadOptions = null, GuardPolicy? policy = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentException.ThrowIfNullOrWhiteSpace(modelFolder);
        if (!Directory.Exists(modelFolder))
            throw new DirectoryNotFoundException($"Model folder '{modelFolder}' does not exist.");
        // The model loads when the service is first asked for, once.
        services.AddKeyedSingleton(serviceId, (sp, _) => new GuardedModel(modelFolder, loadOptions,
            sp.GetService<ILoggerFactory>()?.CreateLogger(typeof(GuardedModel).FullName!)));
        services.AddKeyedSingleton(serviceId, (sp, key) => sp.GetRequiredKeyedService<GuardedModel>(key).Guard);
        return Register(services, serviceId, policy);
    }

    public static IServiceCollection AddRetrievalGuardChatCompletion(this IServiceCollection services,
        HallucinationGuard guard, string? serviceId = null, GuardPolicy? policy = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(guard);
        services.AddKeyedSingleton(serviceId, guard);
        return Register(services, serviceId, policy);
    }

    private static IServiceCollection Register(IServiceCollection services, string? serviceId, GuardPolicy? policy)
    {
        services.AddKeyedSingleton(serviceId, (sp, key) =>
            new RetrievalGuardChatClient(sp.GetRequiredKeyedService<HallucinationGuard>(key), policy));
        services.AddKeyedSingleton<IChatCompletionService>(serviceId, (sp, key) =>
            new RetrievalGuardChatCompletionService(sp.GetRequiredKeyedService<RetrievalGuardChatClient>(key)));
        return services;
    }

    /// <summary>A model loaded for the service and disposed with the container.</summary>
    private sealed class GuardedModel : IDisposable
    {
        private readonly LanguageModel _model;

        public GuardedModel(string folder, LoadOptions? options, ILogger? logger)
        {
            _model = LanguageModel.Load(folder, options);
            // What the checkpoint's files disagree on (BOS/EOS ids), said once when the model loads.
            foreach (var note in _model.Notes)
                logger?.LogWarning("Model {Folder}: {Note}", folder, note);
        }

        public HallucinationGuard Guard => field ??= HallucinationGuard.ForModel(_model);

        public void Dispose() => _model.Dispose();
    }
}

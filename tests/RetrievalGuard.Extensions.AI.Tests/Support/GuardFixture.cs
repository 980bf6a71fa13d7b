using RetrievalGuard.Engine;
using RetrievalGuard.Guard;

namespace RetrievalGuard.Extensions.AI.Tests.Support;

/// <summary>The shipped organism with its head map and calibration, loaded once per test class.</summary>
public sealed class GuardFixture : IDisposable
{
    public LanguageModel Model { get; } = LanguageModel.Load(RepoPaths.Path("samples", "models", "organism"));

    public HallucinationGuard Guard => _guard ??= HallucinationGuard.ForModel(Model);

    private HallucinationGuard? _guard;

    public static readonly string[] Passages =
    [
        "The coach left at dawn and the lanes were quiet. Zo Vrakul earns a living as a baker. " +
        "Nobody spoke of it again.",
        "Rain fell on the mill, and the river rose over the meadow until the bridge was gone.",
    ];

    public const string Question = "What does Zo Vrakul do for a living?";

    public void Dispose() => Model.Dispose();
}

/// <summary>An inner chat client that always answers the same text (the guarded model's stand-in).</summary>
internal sealed class FixedAnswerClient(string answer) : Microsoft.Extensions.AI.IChatClient
{
    public int Calls { get; private set; }

    public Task<Microsoft.Extensions.AI.ChatResponse> GetResponseAsync(
        IEnumerable<Microsoft.Extensions.AI.ChatMessage> messages, Microsoft.Extensions.AI.ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        Calls++;
        return Task.FromResult(new Microsoft.Extensions.AI.ChatResponse(
            new Microsoft.Extensions.AI.ChatMessage(Microsoft.Extensions.AI.ChatRole.Assistant, answer)));
    }

    public async IAsyncEnumerable<Microsoft.Extensions.AI.ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<Microsoft.Extensions.AI.ChatMessage> messages, Microsoft.Extensions.AI.ChatOptions? options = null,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        Calls++;
        foreach (var word in answer.Split(' '))
        {
            cancellationToken.ThrowIfCancellationRequested();
            await Task.Yield();
            yield return new Microsoft.Extensions.AI.ChatResponseUpdate(Microsoft.Extensions.AI.ChatRole.Assistant,
                word + " ");
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose()
    {
    }
}

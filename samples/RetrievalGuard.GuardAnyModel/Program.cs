using System.ClientModel;
using Microsoft.Extensions.AI;
using OpenAI;
using RetrievalGuard.Engine;
using RetrievalGuard.Extensions.AI;
using RetrievalGuard.Guard;

// Any OpenAI-compatible endpoint answers; RetrievalGuard reads each answer with the local model's retrieval heads
// against the passages it was given, and attaches the risk. Configure with environment variables:
//   RGUARD_OPENAI_ENDPOINT  e.g. http://localhost:11434/v1 (Ollama), http://localhost:8000/v1 (vLLM)
//   RGUARD_OPENAI_MODEL     the model name the endpoint serves
//   RGUARD_OPENAI_KEY       the API key, if the endpoint needs one
//   RGUARD_GUARD_MODEL      the local checkpoint that guards (default: the shipped organism); it needs a head map and
//                           a calibration (`rguard heads detect|import`, `rguard guard fit`).
var endpoint = Environment.GetEnvironmentVariable("RGUARD_OPENAI_ENDPOINT");
var modelName = Environment.GetEnvironmentVariable("RGUARD_OPENAI_MODEL");
if (string.IsNullOrWhiteSpace(endpoint) || string.IsNullOrWhiteSpace(modelName))
{
    Console.WriteLine("""
        This sample guards the answers of an OpenAI-compatible chat endpoint. Set RGUARD_OPENAI_ENDPOINT (for example
        http://localhost:11434/v1) and RGUARD_OPENAI_MODEL (the model it serves), optionally RGUARD_OPENAI_KEY and
        RGUARD_GUARD_MODEL (the local checkpoint that guards; default samples/models/organism), then run it again.
        Nothing was sent anywhere.
        """);
    return 0;
}
if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri))
{
    Console.Error.WriteLine($"error: RGUARD_OPENAI_ENDPOINT '{endpoint}' is not an absolute URL.");
    return 1;
}

using var guardModel = LanguageModel.Load(Environment.GetEnvironmentVariable("RGUARD_GUARD_MODEL") ?? FindOrganism());
var guard = HallucinationGuard.ForModel(guardModel);
var key = Environment.GetEnvironmentVariable("RGUARD_OPENAI_KEY");
IChatClient remote = new OpenAIClient(new ApiKeyCredential(string.IsNullOrEmpty(key) ? "none" : key),
        new OpenAIClientOptions { Endpoint = uri })
    .GetChatClient(modelName).AsIChatClient();
using var client = new ChatClientBuilder(remote).UseRetrievalGuard(guard).Build();

string[] passages =
[
    "The coach left at dawn. Zo Vrakul earns a living as a baker. Nobody in the lane spoke of it again.",
    "Rain fell on the mill all night, and by morning the river had risen over the meadow.",
];
var question = "What does Zo Vrakul do for a living? Answer from the passages in one sentence.";
var messages = passages.Select(p => new ChatMessage(ChatRole.User, p)
    {
        AdditionalProperties = new() { [GuardKeys.IsPassage] = true },
    })
    .Append(new ChatMessage(ChatRole.User, question));
try
{
    var response = await client.GetResponseAsync(messages.ToList());
    var report = (GuardReport)response.AdditionalProperties![GuardKeys.Report]!;
    Console.WriteLine($"{modelName}: {response.Text}");
    Console.WriteLine($"risk {report.Risk:F2}{(report.Flagged ? " (flagged)" : "")}; sources: {string.Join(", ", report.Citations)}");
    return 0;
}
catch (Exception e) when (Unreachable(e) is { } reason)
{
    Console.Error.WriteLine($"error: {endpoint}: {reason}");
    return 1;
}

// The endpoint's failure in one line (the OpenAI client retries and wraps them), or null for anything else.
static string? Unreachable(Exception e) => e switch
{
    AggregateException all when all.InnerExceptions.Count > 0 => Unreachable(all.InnerExceptions[^1]),
    ClientResultException { Status: > 0 } answered => $"answered {answered.Status}: {answered.Message}",
    ClientResultException or HttpRequestException => $"could not be reached ({e.Message})",
    _ => null,
};

static string FindOrganism()
{
    for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
    {
        var candidate = Path.Combine(dir.FullName, "samples", "models", "organism");
        if (Directory.Exists(candidate))
            return candidate;
    }
    throw new DirectoryNotFoundException("samples/models/organism not found above the working folder: set RGUARD_GUARD_MODEL.");
}

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Microsoft.SemanticKernel.Data;
using RetrievalGuard.Engine;
using RetrievalGuard.Extensions.AI;
using RetrievalGuard.Guard;
using RetrievalGuard.Guard.Prompting;

namespace RetrievalGuard.SemanticKernel.Tests;

/// <summary>The shipped organism, its head map and calibration, loaded once for the kernel tests.</summary>
public sealed class OrganismGuard : IDisposable
{
    public static string Folder => RepoPaths.Path("samples", "models", "organism");

    public LanguageModel Model { get; } = LanguageModel.Load(Folder);

    public HallucinationGuard Guard => field ??= HallucinationGuard.ForModel(Model);

    public static readonly Passage[] Knowledge =
    [
        new("mill", "Rain fell on the mill, and the river rose over the meadow until the bridge was gone."),
        new("baker", "The coach left at dawn. Zo Vrakul earns a living as a baker. Nobody in the lane spoke of it."),
        new("garden", "The garden was full of roses, and the old gardener watered them every evening."),
    ];

    public void Dispose() => Model.Dispose();
}

#pragma warning disable CS0618 // ITextSearch: what SK 1.82 builds search plugins from.
public sealed class KernelTests(OrganismGuard organism) : IClassFixture<OrganismGuard>
{
    private Kernel Kernel(GuardPolicy? policy = null)
    {
        var builder = Microsoft.SemanticKernel.Kernel.CreateBuilder()
            .AddRetrievalGuardChatCompletion(organism.Guard, "organism");
        var kernel = builder.Build();
        kernel.Plugins.Add(new InMemoryTextSearch(OrganismGuard.Knowledge).CreateWithGetTextSearchResults("Search"));
        kernel.FunctionInvocationFilters.Add(new RetrievalGuardFilter(organism.Guard, policy));
        return kernel;
    }

    // A RAG function as an app writes one: retrieve through the kernel, then ask the chat service with the passages.
    private static KernelFunction Rag() => KernelFunctionFactory.CreateFromMethod(
        async (Kernel kernel, string question) =>
        {
            var found = await kernel.InvokeAsync("Search", "GetTextSearchResults", new() { ["query"] = question });
            var passages = found.GetValue<IEnumerable<TextSearchResult>>()!.Select(r => r.Value!).ToArray();
            var chat = kernel.GetRequiredService<IChatCompletionService>("organism");
            var settings = new PromptExecutionSettings
            {
                ExtensionData = new Dictionary<string, object> { [GuardKeys.Passages] = passages, ["max_tokens"] = 32 },
            };
            var reply = await chat.GetChatMessageContentAsync(new ChatHistory(question, AuthorRole.User), settings,
                kernel);
            return reply.Content;
        }, "answer");

    [Fact]
    public async Task TheFilterGuardsARagFunctionWithThePassagesItsSearchReturned()
    {
        var kernel = Kernel();

        var grounded = await kernel.InvokeAsync(Rag(), new() { ["question"] = "What does Zo Vrakul do for a living?" });
        var unanswerable = await kernel.InvokeAsync(Rag(), new() { ["question"] = "Where does Zo Vrakul come from?" });

        var groundedReport = Assert.IsType<GuardReport>(grounded.Metadata![GuardKeys.Report]);
        var unanswerableReport = Assert.IsType<GuardReport>(unanswerable.Metadata![GuardKeys.Report]);
        Assert.Contains("baker", grounded.GetValue<string>(), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("baker", groundedReport.Citations);
        Assert.True(groundedReport.Risk < unanswerableReport.Risk,
            $"grounded {groundedReport.Risk:F2} ('{groundedReport.Answer}') "
            + $"vs unanswerable {unanswerableReport.Risk:F2} ('{unanswerableReport.Answer}')");
    }

    /// <summary>The way most SK apps write RAG: a prompt function whose template calls the search plugin.</summary>
    [Fact]
    public async Task TheFilterGuardsAPromptTemplateRagFunction()
    {
        var kernel = Kernel();
        var rag = kernel.CreateFunctionFromPrompt(
            "{{Search.GetTextSearchResults $question}}\n\nQuestion: {{$question}}\nAnswer:",
            new PromptExecutionSettings { ServiceId = "organism", ExtensionData = new Dictionary<string, object>
            {
                ["max_tokens"] = 24,
            } });

        var result = await kernel.InvokeAsync(rag, new() { ["question"] = "What does Zo Vrakul do for a living?" });

        var report = Assert.IsType<GuardReport>(result.Metadata![GuardKeys.Report]);
        Assert.Equal(result.ToString(), report.Answer);
        Assert.Contains("baker", report.Citations);
    }

    [Fact]
    public async Task TheThrowPolicyRaisesAKernelExceptionWithTheReport()
    {
        var kernel = Kernel(new GuardPolicy { Action = GuardAction.Throw, Threshold = 0.0001 });

        var error = await Assert.ThrowsAsync<KernelException>(() =>
            kernel.InvokeAsync(Rag(), new() { ["question"] = "Where does Zo Vrakul come from?" }));
        Assert.IsType<HallucinationRiskException>(error.InnerException);
    }

    [Fact]
    public async Task TheAbstainPolicyReplacesTheAnswer()
    {
        var kernel = Kernel(new GuardPolicy { Action = GuardAction.Abstain, Threshold = 0.0001 });

        var result = await kernel.InvokeAsync(Rag(), new() { ["question"] = "Where does Zo Vrakul come from?" });

        Assert.Equal(new GuardPolicy().AbstentionText, result.GetValue<string>());
        Assert.NotEqual(result.GetValue<string>(), ((GuardReport)result.Metadata![GuardKeys.Report]!).Answer);
    }

    [Fact]
    public async Task TheChatServicePutsTheReportInTheReplysMetadataAndTheLastStreamedChunk()
    {
        var kernel = Kernel();
        var chat = kernel.GetRequiredService<IChatCompletionService>("organism");
        var history = new ChatHistory();
        foreach (var passage in OrganismGuard.Knowledge)
            history.AddMessage(AuthorRole.User, passage.Text, metadata: new Dictionary<string, object?>
            {
                [GuardKeys.IsPassage] = true, [GuardKeys.PassageId] = passage.Id,
            });
        history.AddUserMessage("What does Zo Vrakul do for a living?");

        var reply = await chat.GetChatMessageContentAsync(history, new PromptExecutionSettings
        {
            ExtensionData = new Dictionary<string, object> { ["max_tokens"] = 32 },
        });
        var chunks = new List<StreamingChatMessageContent>();
        await foreach (var chunk in chat.GetStreamingChatMessageContentsAsync(history))
            chunks.Add(chunk);

        var report = Assert.IsType<GuardReport>(reply.Metadata![GuardKeys.Report]);
        Assert.Equal(reply.Content, report.Answer);
        Assert.Contains("baker", report.Citations);
        Assert.IsType<GuardReport>(chunks[^1].Metadata![GuardKeys.Report]);
        Assert.All(chunks, c => Assert.True(c.Metadata!.ContainsKey(GuardKeys.Risk)));
        Assert.Equal("organism", chat.Attributes[Microsoft.SemanticKernel.Services.AIServiceExtensions.ModelIdKey]);
    }

    [Fact]
    public async Task CancellingTheChatServicesStreamStopsItAndTheServiceStillAnswers()
    {
        var chat = Kernel().GetRequiredService<IChatCompletionService>("organism");
        var settings = new PromptExecutionSettings
        {
            ExtensionData = new Dictionary<string, object>
            {
                [GuardKeys.Passages] = OrganismGuard.Knowledge, ["max_tokens"] = 32,
            },
        };
        var history = new ChatHistory("What does Zo Vrakul do for a living?", AuthorRole.User);
        using var cancel = new CancellationTokenSource();
        var received = 0;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var chunk in chat.GetStreamingChatMessageContentsAsync(history, settings, null,
                cancel.Token))
            {
                if (++received == 2)
                    await cancel.CancelAsync();
            }
        });
        Assert.Equal(2, received);

        var reply = await chat.GetChatMessageContentAsync(history, settings);
        Assert.IsType<GuardReport>(reply.Metadata![GuardKeys.Report]);
        Assert.Contains("baker", reply.Content, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task TheChatServicePassesTheCacheChoiceOn()
    {
        var chat = Kernel().GetRequiredService<IChatCompletionService>("organism");
        PromptExecutionSettings With(string cache) => new()
        {
            ExtensionData = new Dictionary<string, object>
            {
                [GuardKeys.Passages] = OrganismGuard.Knowledge, ["max_tokens"] = 24, [GuardKeys.Cache] = cache,
            },
        };
        var history = new ChatHistory("What does Zo Vrakul do for a living?", AuthorRole.User);

        var reply = await chat.GetChatMessageContentAsync(history, With("headaware"));
        var error = await Assert.ThrowsAsync<ArgumentException>(() =>
            chat.GetChatMessageContentAsync(history, With("lru")));

        Assert.Contains("baker", reply.Content, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Unknown cache policy 'lru'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ThePluginScoresAnswersAndAnswersWithSources()
    {
        var kernel = Kernel();
        kernel.Plugins.AddFromObject(
            new RetrievalGuardPlugin(organism.Guard, new InMemoryTextSearch(OrganismGuard.Knowledge)),
            "RetrievalGuard");

        var grounded = await kernel.InvokeAsync<GuardedAnswer>("RetrievalGuard", "score_answer", new()
        {
            ["question"] = "What does Zo Vrakul do for a living?",
            ["answer"] = "Zo Vrakul works as a baker.",
            ["passages"] = new[] { OrganismGuard.Knowledge[1].Text },
        });
        var invented = await kernel.InvokeAsync<GuardedAnswer>("RetrievalGuard", "score_answer", new()
        {
            ["question"] = "What does Zo Vrakul do for a living?",
            ["answer"] = "Zo Vrakul works as a tailor.",
            ["passages"] = new[] { OrganismGuard.Knowledge[1].Text },
        });
        var answered = await kernel.InvokeAsync<GuardedAnswer>("RetrievalGuard", "answer_with_sources", new()
        {
            ["question"] = "What does Zo Vrakul do for a living?",
        });

        Assert.True(grounded!.Risk < invented!.Risk, $"grounded {grounded.Risk:F2} vs invented {invented.Risk:F2}");
        Assert.Contains("baker", answered!.Answer, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("baker", answered.Sources);
    }

    [Fact]
    public async Task TheModelFolderRegistrationLoadsTheModelWhenFirstAskedFor()
    {
        var kernel = Microsoft.SemanticKernel.Kernel.CreateBuilder()
            .AddRetrievalGuardChatCompletion(OrganismGuard.Folder, serviceId: "local").Build();

        var chat = kernel.GetRequiredService<IChatCompletionService>("local");
        var reply = await chat.GetChatMessageContentAsync("What does Zo Vrakul do for a living?",
            new PromptExecutionSettings
            {
                ExtensionData = new Dictionary<string, object>
                {
                    [GuardKeys.Passages] = new[] { OrganismGuard.Knowledge[1].Text }, ["max_tokens"] = 24,
                },
            });

        Assert.Contains("baker", reply.Content, StringComparison.OrdinalIgnoreCase);
        Assert.Throws<DirectoryNotFoundException>(() =>
            Microsoft.SemanticKernel.Kernel.CreateBuilder().AddRetrievalGuardChatCompletion("/nonexistent/model"));
    }

    /// <summary>
    /// The external checkpoint's config.json and tokenizer disagree on BOS/EOS: the app's log says so once.
    /// </summary>
    [SkippableFact]
    public void TheModelFolderRegistrationLogsWhatTheCheckpointsFilesDisagreeOn()
    {
        var folder = Path.GetFullPath(Path.Combine(RepoPaths.Root, "..", "shared", "models",
            "tiny-random-llama-external"));
        Skip.IfNot(Directory.Exists(folder), $"{folder} is not here (CI and the workplace have it).");
        var log = new CapturingLoggerProvider();
        var builder = Microsoft.SemanticKernel.Kernel.CreateBuilder();
        builder.Services.AddSingleton<ILoggerFactory>(log);
        var kernel = builder.AddRetrievalGuardChatCompletion(folder, serviceId: "external").Build();

        // It has no head map, so the guard itself is refused; the model loaded first and said its notes.
        Assert.ThrowsAny<Exception>(() => kernel.Services.GetRequiredKeyedService<HallucinationGuard>("external"));
        Assert.Single(log.Messages, m => m.Contains("bos_token_id 0", StringComparison.Ordinal));
        Assert.Single(log.Messages, m => m.Contains("eos_token_id 1", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TheKnowledgeBaseRanksByBm25()
    {
        var search = new InMemoryTextSearch(OrganismGuard.Knowledge);

        var ranked = search.Rank("Who waters the roses in the garden?");
        var results = await search.GetTextSearchResultsAsync("Zo Vrakul baker",
            new TextSearchOptions { Top = 1, IncludeTotalCount = true });
        var list = new List<TextSearchResult>();
        await foreach (var result in results.Results)
            list.Add(result);

        Assert.Equal("garden", ranked[0].Document.Id);
        Assert.Equal("baker", Assert.Single(list).Name);
        Assert.Equal(1, results.TotalCount);
        Assert.Throws<ArgumentException>(() => new InMemoryTextSearch([new Passage("a", "x"), new Passage("a", "y")]));
    }
}
#pragma warning restore CS0618

/// <summary>Keeps every logged message (what an app's log would show).</summary>
internal sealed class CapturingLoggerProvider : ILoggerFactory
{
    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException();

    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _messages = new();

    public IReadOnlyList<string> Messages => [.. _messages];

    public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => new Logger(_messages);

    public void Dispose()
    {
    }

    private sealed class Logger(System.Collections.Concurrent.ConcurrentQueue<string> messages)
        : Microsoft.Extensions.Logging.ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel,
            Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter) => messages.Enqueue(formatter(state, exception));
    }
}

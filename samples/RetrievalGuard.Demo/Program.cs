using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Microsoft.SemanticKernel.Data;
using RetrievalGuard.Data;
using RetrievalGuard.Demo;
using RetrievalGuard.Engine;
using RetrievalGuard.Extensions.AI;
using RetrievalGuard.Guard;
using RetrievalGuard.SemanticKernel;
using Spectre.Console;

// A RAG pipeline as an app would build it with Semantic Kernel — a knowledge base, BM25 retrieval exposed as SK's text
// search, the local model as the chat service, and RetrievalGuard's filter on the RAG function — on the shipped model
// organism, offline. Each answer comes back with its hallucination risk, its ungrounded spans and its sources.
var folder = args.FirstOrDefault() ?? FindModel();
var load = System.Diagnostics.Stopwatch.StartNew();
using var model = LanguageModel.Load(folder);
var guard = HallucinationGuard.ForModel(model);
if (guard.Calibration is null)
{
    Console.Error.WriteLine($"error: no calibration for the model in {folder}: fit one with `rguard guard fit`.");
    return 1;
}
var (documents, questions) = KnowledgeBase.Build(World.Default);

#pragma warning disable CS0618 // ITextSearch: what SK 1.82 builds its search plugins from.
var kernel = Kernel.CreateBuilder().AddRetrievalGuardChatCompletion(guard).Build();
kernel.Plugins.Add(new InMemoryTextSearch(documents).CreateWithGetTextSearchResults("Search"));
#pragma warning restore CS0618
kernel.FunctionInvocationFilters.Add(new RetrievalGuardFilter(guard));

var answer = KernelFunctionFactory.CreateFromMethod(async (Kernel k, string question) =>
{
    var found = await k.InvokeAsync("Search", "GetTextSearchResults", new() { ["query"] = question });
    var passages = found.GetValue<IEnumerable<TextSearchResult>>()!.Select(r => r.Value!).ToArray();
    var settings = new PromptExecutionSettings
    {
        ExtensionData = new Dictionary<string, object> { [GuardKeys.Passages] = passages, ["max_tokens"] = 32 },
    };
    var reply = await k.GetRequiredService<IChatCompletionService>()
        .GetChatMessageContentAsync(new ChatHistory(question, AuthorRole.User), settings, k);
    return reply.Content;
}, "answer", "Answers a question from the knowledge base.");

AnsiConsole.MarkupLine($"[grey]{documents.Count} passages in the knowledge base; model loaded in "
    + $"{load.Elapsed.TotalSeconds:F1} s; guard: {guard.Heads.Count} retrieval heads, calibrated[/]");
var table = new Table().Border(TableBorder.Rounded)
    .AddColumns("#", "question", "case", "answer (ungrounded spans in red)", "risk", "sources");
var risks = new List<(string Kind, bool Supported, double Risk)>();
var timer = System.Diagnostics.Stopwatch.StartNew();
for (var i = 0; i < questions.Count; i++)
{
    var question = questions[i];
    var result = await kernel.InvokeAsync(answer, new() { ["question"] = question.Text });
    // The filter attaches a report when the search found passages and the model answered.
    if (result.Metadata?.GetValueOrDefault(GuardKeys.Report) is not GuardReport report)
    {
        table.AddRow(new Markup($"{i + 1}"), new Markup(Markup.Escape(question.Text)),
            new Markup($"[grey]{Markup.Escape(question.Kind)}[/]"),
            new Markup(Markup.Escape(result.GetValue<string>() is { Length: > 0 } text ? text : "(no answer)")),
            new Markup("[grey]–[/]"), new Markup("[grey]nothing retrieved[/]"));
        continue;
    }
    risks.Add((question.Kind, question.IsSupported(report.Answer), report.Risk));
    var colour = report.Flagged ? "red" : "green";
    table.AddRow(new Markup($"{i + 1}"), new Markup(Markup.Escape(question.Text)),
        new Markup($"[grey]{Markup.Escape(question.Kind)}[/]\n[grey]{Markup.Escape(question.Expected)}[/]"),
        new Markup(Highlight(report)), new Markup($"[{colour}]{report.Risk:F2}[/]"),
        new Markup(Markup.Escape(string.Join(", ", report.Citations))));
}
AnsiConsole.Write(table);

// The check CI runs: every kind of case was retrieved and answered, and the answers the knowledge base does not
// support (wrong, unanswerable, from memory) score a higher risk on average than the ones it does.
double Mean(bool supported) =>
    risks.Where(r => r.Supported == supported).Select(r => r.Risk).DefaultIfEmpty(double.NaN).Average();
var (grounded, unsupported) = (Mean(true), Mean(false));
AnsiConsole.MarkupLine($"mean risk: answers the knowledge base supports [green]{grounded:F2}[/] "
    + $"({risks.Count(r => r.Supported)}), answers it does not [red]{unsupported:F2}[/] "
    + $"({risks.Count(r => !r.Supported)}) — {questions.Count} questions in {timer.Elapsed.TotalSeconds:F1} s");
var unanswered = questions.Select(q => q.Kind).Distinct().Where(kind => risks.All(r => r.Kind != kind)).ToArray();
if (unanswered.Length > 0)
{
    Console.Error.WriteLine($"error: no guarded answer for the case(s) {string.Join(", ", unanswered)}: the search "
        + "retrieved nothing or the model did not answer.");
    return 2;
}
if (!(unsupported > grounded))
{
    Console.Error.WriteLine(double.IsNaN(grounded)
        ? "error: the model answered no question with what the knowledge base supports."
        : "error: answers the knowledge base does not support did not score a higher risk than supported ones.");
    return 2;
}
return 0;

// The answer with flagged spans in red.
static string Highlight(GuardReport report)
{
    var text = new System.Text.StringBuilder();
    var at = 0;
    foreach (var span in report.Spans.Where(s => s.Flagged).OrderBy(s => s.Start))
    {
        text.Append(Markup.Escape(report.Answer[at..span.Start]))
            .Append($"[white on red]{Markup.Escape(span.Text)}[/]");
        at = span.Start + span.Length;
    }
    return text.Append(Markup.Escape(report.Answer[at..])).ToString();
}

// samples/models/organism, from the working folder or above it (the demo runs from the repository or its own folder).
static string FindModel()
{
    for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
    {
        var candidate = Path.Combine(dir.FullName, "samples", "models", "organism");
        if (Directory.Exists(candidate))
            return candidate;
    }
    throw new DirectoryNotFoundException(
        "samples/models/organism not found above the working folder: pass a model folder.");
}

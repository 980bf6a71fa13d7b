using System.CommandLine;
using System.Diagnostics;
using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Tokenization;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Cli.Commands;

/// <summary>
/// <c>rguard generate --model DIR --prompt TEXT</c>: streams the continuation to stdout, statistics to stderr.
/// </summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.ModelAndDevice();
        var prompt = new Option<string?>("--prompt", "-p") { Description = "Prompt text" };
        var promptIds = new Option<string?>("--prompt-ids")
        {
            Description = "Prompt as token ids, comma-separated (instead of --prompt; works without a tokenizer)",
        };
        var printIds = new Option<bool>("--print-ids")
        {
            Description = "Print the generated token ids instead of text",
        };
        var chat = new Option<bool>("--chat")
        {
            Description = "Wrap the prompt as a user turn in the model's chat template",
        };
        var maxTokens = new Option<int>("--max-tokens", "-n")
        {
            Description = "Most new tokens",
            DefaultValueFactory = _ => 128,
        };
        var temperature = new Option<float>("--temperature", "-t")
        {
            Description = "0 = greedy",
            DefaultValueFactory = _ => 0f,
        };
        var topP = new Option<float>("--top-p") { DefaultValueFactory = _ => 1f };
        var topK = new Option<int>("--top-k") { DefaultValueFactory = _ => 0 };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 0L };
        var cache = new CacheOptions(required: false);
        var command = new Command("generate", "Generate text from a prompt, streaming it as it is made.")
            { prompt, promptIds, printIds, chat, maxTokens, temperature, topP, topK, seed };
        foreach (var option in model.All)
            command.Options.Add(option);
        cache.AddTo(command);
        command.SetAction((parse, cancellation) => CliErrors.Guard(async () =>
        {
            var options = new GenerationOptions
            {
                MaxNewTokens = parse.GetValue(maxTokens),
                Temperature = parse.GetValue(temperature),
                TopP = parse.GetValue(topP),
                TopK = parse.GetValue(topK), Seed = parse.GetValue(seed),
            };
            CliErrors.WithFlags(options.Validate, OptionFlags);
            var load = Stopwatch.StartNew();
            using var lm = model.Load(parse);
            load.Stop();
            var ids = PromptIds(lm, parse.GetValue(prompt), parse.GetValue(promptIds), parse.GetValue(chat));
            var policy = cache.Policy(parse, () => NiahCommand.FindMap(lm, null),
                () => HeadMapCatalog.NotFoundMessage(lm.Directory));
            // The full policy runs on the model's reusable cache (and its decode graphs); others get a cache of their
            // own.
            using var kv = policy.Kind == CacheKind.Full
                ? null
                : lm.CreateCache(policy, ids.Count + options.MaxNewTokens);
            var idsOnly = parse.GetValue(printIds);
            var timer = Stopwatch.StartNew();
            double firstToken = 0;
            int count = 0;
            await foreach (var token in lm.GenerateAsync(ids, options, kv, cancellation))
            {
                if (count++ == 0) firstToken = timer.Elapsed.TotalMilliseconds;
                Console.Write(idsOnly ? (count > 1 ? " " : "") + token.Id : token.Text);
            }
            Console.WriteLine();
            Console.Out.Flush();
            double seconds = timer.Elapsed.TotalSeconds;
            Console.Error.WriteLine($"[{count} tokens, prompt {ids.Count} tokens, "
                + $"load {load.Elapsed.TotalSeconds:F1} s, first token {firstToken:F0} ms, "
                + $"{(count > 1 ? (count - 1) / Math.Max(1e-9, seconds - firstToken / 1000) : 0):F1} tok/s, "
                + $"{lm.Device.type} {lm.DType}"
                + (kv is null ? "]" : $", {CacheOptions.Describe(policy, kv)}]"));
            return 0;
        }));
        return command;
    }

    /// <summary>
    /// The prompt's ids: from --prompt-ids as given, or --prompt through the tokenizer (and chat template).
    /// </summary>
    private static IReadOnlyList<int> PromptIds(LanguageModel lm, string? text, string? ids, bool chat)
    {
        if ((text is null) == (ids is null))
            throw new ArgumentException("Give the prompt as --prompt TEXT or as --prompt-ids 1,2,3 (one of them).");
        if (ids is not null)
        {
            if (chat)
                throw new ArgumentException("--chat formats text; with --prompt-ids give the formatted ids yourself.");
            return ids.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select((item, i) =>
                    int.TryParse(item, System.Globalization.NumberStyles.None,
                        System.Globalization.CultureInfo.InvariantCulture, out var id)
                        ? id
                        : throw new ArgumentException($"--prompt-ids: item {i + 1} ('{item}') is not a token id."))
                .ToArray();
        }
        if (chat && lm.Tokenizer.ChatFormat == ChatFormat.Plain)
            Console.Error.WriteLine(
                "note: this model has no chat template (tokenizer_config.json has no chat_template); "
                + "--chat lays the turn out as plain text.");
        return chat ? lm.Tokenizer.EncodeChat([new ChatTurn(ChatRole.User, text!)]) : lm.Tokenizer.Encode(text!);
    }

    private static readonly Dictionary<string, string> OptionFlags = new()
    {
        [nameof(GenerationOptions.MaxNewTokens)] = "--max-tokens",
        [nameof(GenerationOptions.Temperature)] = "--temperature",
        [nameof(GenerationOptions.TopP)] = "--top-p",
        [nameof(GenerationOptions.TopK)] = "--top-k",
    };
}

using System.Runtime.CompilerServices;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Checkpoints;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Native;
using RetrievalGuard.Engine.Probes;
using RetrievalGuard.Engine.Tokenization;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine;

/// <summary>How to load a checkpoint folder.</summary>
public sealed record LoadOptions
{
    /// <summary>cpu, cuda or cuda:N.</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>auto, fp32, bf16 or fp16.</summary>
    public string DType { get; init; } = "auto";
}

/// <summary>
/// A Hugging Face checkpoint folder loaded for inference: config, tokenizer and network on one device. The entry
/// point for everything above the engine (head detection, the guard, adapters). One generation at a time.
/// </summary>
public sealed class LanguageModel : IDisposable
{
    private readonly ModelTokenizer? _tokenizer;
    private StaticKvCache? _reusableCache;

    private LanguageModel(string directory, ModelConfig config, LlamaModel network, ModelTokenizer? tokenizer)
    {
        Directory = directory;
        Config = config;
        Network = network;
        _tokenizer = tokenizer;
    }

    public string Directory { get; }
    public ModelConfig Config { get; }

    /// <summary>
    /// Things worth telling whoever loaded the model once (a front end prints them): for example that config.json and
    /// the tokenizer disagree on the BOS/EOS ids, and which ids are used.
    /// </summary>
    public IReadOnlyList<string> Notes => _tokenizer is null ? [] : SpecialTokenNotes(Config, _tokenizer);

    /// <summary>
    /// transformers' precedence where config.json and the tokenizer disagree: prompts start with the tokenizer's BOS;
    /// generation stops at config.json's / generation_config.json's EOS ids, and (here) at the tokenizer's too.
    /// </summary>
    internal static IReadOnlyList<string> SpecialTokenNotes(ModelConfig config, ModelTokenizer tokenizer)
    {
        var notes = new List<string>();
        if (config.BosTokenId is int bos && tokenizer.BosId is int tokenizerBos && bos != tokenizerBos)
            notes.Add($"config.json says bos_token_id {bos}, the tokenizer's BOS is {tokenizerBos}: prompts start with "
                + $"{tokenizerBos}, as transformers' tokenizer does.");
        var configStops = config.EosTokenIds.ToHashSet();
        var tokenizerOnly = tokenizer.StopTokenIds.Where(id => !configStops.Contains(id)).ToArray();
        if (configStops.Count > 0 && tokenizerOnly.Length > 0)
            notes.Add($"config.json says eos_token_id {string.Join(", ", config.EosTokenIds)}, the tokenizer also ends "
                + $"with {string.Join(", ", tokenizerOnly)}: generation stops at any of "
                + $"{string.Join(", ", tokenizer.StopTokenIds.Order())}.");
        return notes;
    }

    /// <summary>The network itself, for code that runs its own forward passes (detection, training, scoring).</summary>
    public LlamaModel Network { get; }

    public Device Device => Network.Device;
    public ScalarType DType => Network.DType;
    public bool HasTokenizer => _tokenizer is not null;

    public ModelTokenizer Tokenizer => _tokenizer ??
        throw new InvalidOperationException($"{Directory} has no tokenizer (tokenizer.json, tokenizer.model or "
            + "vocab.json + merges.txt): give token ids instead of text (rguard generate --prompt-ids).");

    /// <summary>Parameters in the network (a tied embedding counted once).</summary>
    public long ParameterCount => Network.parameters().Distinct().Sum(p => p.numel());

    public static LanguageModel Load(string directory, LoadOptions? options = null)
    {
        options ??= new LoadOptions();
        if (File.Exists(directory))
            throw new DirectoryNotFoundException(
                $"'{directory}' is a file: give the model's folder (the one with config.json).");
        if (!System.IO.Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Model folder '{directory}' does not exist.");
        TorchRuntime.EnsureInitialized();
        var config = ModelConfig.Load(Path.Combine(directory, "config.json"));
        var device = ComputeOptions.ParseDevice(options.Device);
        var dtype = ComputeOptions.ParseDType(options.DType, device, config.TorchDtype);
        var tokenizer = ModelTokenizer.HasTokenizerFiles(directory) ? ModelTokenizer.Load(directory) : null;
        // The checkpoint's names and shapes are checked against config.json before the network is made: a huge or
        // mistyped dimension failed in libtorch's allocator (an ExternalException) instead of naming the tensor.
        using var checkpoint = Checkpoint.Open(directory);
        LlamaWeights.CheckShapes(config, checkpoint);
        var network = new LlamaModel(config, dtype, device);
        try
        {
            LlamaWeights.Load(network, checkpoint);
        }
        catch
        {
            network.Dispose();
            throw;
        }
        network.eval();
        return new LanguageModel(directory, config, network, tokenizer);
    }

    /// <summary>Wraps an in-memory network (a freshly trained one, or a test model) with an optional tokenizer.
    /// </summary>
    public static LanguageModel FromNetwork(LlamaModel network, ModelTokenizer? tokenizer,
        string directory = "(in memory)") =>
        new(directory, network.Config, network, tokenizer);

    public StaticKvCache CreateCache(int capacity, int batchSize = 1) => Network.CreateCache(capacity, batchSize);

    /// <summary>A cache under <paramref name="policy"/> (full, or head-aware compressed); pass it to
    /// <see cref="GenerateAsync(IReadOnlyList{int}, GenerationOptions, IKvCache?, CancellationToken)"/>.</summary>
    public IKvCache CreateCache(KvCachePolicy policy, int capacity, int batchSize = 1) =>
        Network.CreateCache(policy, capacity, batchSize);

    public AttentionProbe CreateProbe(IEnumerable<HeadIndex> heads, int queryTokens = 1) =>
        Network.CreateProbe(heads, queryTokens);

    /// <summary>
    /// Continuous batching over one preallocated cache of <paramref name="maxSequences"/> rows, full or under
    /// <paramref name="policy"/>.
    /// </summary>
    public BatchDecoder CreateBatchDecoder(int maxSequences, int capacityPerSequence, KvCachePolicy? policy = null) =>
        new(Network, maxSequences, capacityPerSequence, policy);

    public HeadMask CreateHeadMask(IEnumerable<HeadIndex> zeroedHeads) => Network.CreateHeadMask(zeroedHeads);

    /// <summary>Streams the continuation of a raw text prompt (BOS added as the tokenizer says).</summary>
    public IAsyncEnumerable<GeneratedToken> GenerateAsync(string prompt, GenerationOptions options,
        CancellationToken cancellationToken = default) =>
        GenerateAsync(Tokenizer.Encode(prompt), options, cache: null, cancellationToken);

    /// <summary>Streams the assistant's reply to a conversation, formatted with the model's chat template.</summary>
    public IAsyncEnumerable<GeneratedToken> ChatAsync(IReadOnlyList<ChatTurn> turns, GenerationOptions options,
        CancellationToken cancellationToken = default) =>
        GenerateAsync(Tokenizer.EncodeChat(turns), options, cache: null, cancellationToken);

    /// <summary>
    /// Streams the continuation of <paramref name="promptIds"/>. Without a <paramref name="cache"/> the model's
    /// reusable cache is used from position 0 (grown when a request needs more; kept between calls so that the decode
    /// graphs captured for it are replayed by the next request too; see <see cref="ReleaseCache"/>); with one,
    /// generation continues after what it holds.
    /// </summary>
    public async IAsyncEnumerable<GeneratedToken> GenerateAsync(IReadOnlyList<int> promptIds, GenerationOptions options,
        IKvCache? cache, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var steps = cache is null
            ? GenerateTokens(promptIds, options, cancellationToken)
            : TokenGenerator.Generate(Network, promptIds, cache, options, StopTokensFor(options), cancellationToken);
        var decoder = _tokenizer?.CreateIncrementalDecoder();
        int made = 0;
        foreach (var step in steps)
        {
            bool last = step.IsStop || ++made == options.MaxNewTokens;
            string text = step.IsStop || decoder is null ? "" : decoder.Push(step.Id);
            if (last && decoder is not null) text += decoder.Flush();
            yield return new GeneratedToken(step.Id, step.Position, text, step.LogProb, step.Entropy, step.IsStop,
                step.Attention, step.Summary);
            // Let the consumer's continuations run between tokens (streaming to a socket, cancellation).
            await Task.Yield();
        }
    }

    /// <summary>
    /// Token ids in, token steps out, synchronously, on the reusable cache (from position 0): the loop for detection,
    /// evaluation and scoring, which need no text streaming.
    /// </summary>
    public IEnumerable<TokenStep> GenerateTokens(IReadOnlyList<int> promptIds, GenerationOptions options,
        CancellationToken cancellationToken = default)
    {
        options.Validate();
        TokenGenerator.EnsureFitsPositions(Network, promptIds.Count, options.MaxNewTokens);
        return TokenGenerator.Generate(Network, promptIds,
            ReusableCache(promptIds.Count + Math.Max(options.MaxNewTokens, 1)), options,
            StopTokensFor(options), cancellationToken);
    }

    /// <summary>The options' stop tokens, else the tokenizer's, else none.</summary>
    private IReadOnlyCollection<int> StopTokensFor(GenerationOptions options) =>
        options.StopTokenIds ?? (IReadOnlyCollection<int>?)_tokenizer?.StopTokenIds ?? [];

    /// <summary>
    /// A short answer: tokens up to a stop token, the first newline or MaxNewTokens, decoded, first line, trimmed.
    /// <paramref name="onStep"/> sees every token made (a stop token included), e.g. to score where heads looked.
    /// </summary>
    public string AnswerLine(IReadOnlyList<int> promptIds, GenerationOptions options,
        Action<TokenStep>? onStep = null) =>
        AnswerLine(GenerateTokens(promptIds, options), onStep);

    /// <summary>The same answer rule over any token steps (e.g. generated on a cache of the caller's own).</summary>
    public string AnswerLine(IEnumerable<TokenStep> steps, Action<TokenStep>? onStep = null)
    {
        var answer = new List<int>();
        foreach (var step in steps)
        {
            onStep?.Invoke(step);
            if (step.IsStop) break;
            answer.Add(step.Id);
            if (Tokenizer.Decode(answer).Contains('\n')) break;
        }
        return Tokenizer.Decode(answer).Split('\n')[0].Trim();
    }

    /// <summary>Frees the reusable cache (and the decode graphs bound to it); the next call makes a new one.</summary>
    public void ReleaseCache()
    {
        _reusableCache?.Dispose();
        _reusableCache = null;
    }

    /// <summary>The reusable cache, emptied, with room for <paramref name="positions"/> (grown in steps of 1,024).
    /// </summary>
    private StaticKvCache ReusableCache(int positions)
    {
        if (_reusableCache is null || _reusableCache.Capacity < positions)
        {
            ReleaseCache();
            _reusableCache = CreateCache((positions + 1023) / 1024 * 1024);
        }
        _reusableCache.Truncate(0);
        return _reusableCache;
    }

    public void Dispose()
    {
        ReleaseCache();
        Network.Dispose();
    }
}

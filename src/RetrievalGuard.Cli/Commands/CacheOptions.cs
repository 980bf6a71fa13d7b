using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Heads.Caching;
using RetrievalGuard.Heads.Maps;

namespace RetrievalGuard.Cli.Commands;

/// <summary>
/// The KV cache options every command that runs the model shares (<c>niah</c>, <c>generate</c>, <c>ask</c>): the
/// policy, how many KV heads stay whole, the streaming heads' sinks and window, and the random control's seed.
/// </summary>
internal sealed class CacheOptions
{
    /// <param name="required">niah compares policies, so it asks for one; the others default to full.</param>
    /// <param name="seedAliases">Other names of <c>--cache-seed</c> (niah's <c>--seed</c>).</param>
    public CacheOptions(bool required, params string[] seedAliases)
    {
        Kind = new Option<string>("--cache")
        {
            Description = "KV cache policy: full, headaware (retrieval heads' KV heads whole, the others sinks + "
                + "window), streaming or random",
            Required = required,
            DefaultValueFactory = required ? null : _ => "full",
        };
        Kind.Validators.Add(CheckPolicyName);
        FullKvHeads = new Option<int?>("--full-kv-heads")
        {
            Description = "KV heads kept whole (headaware, random); the others keep sinks + window",
        };
        FullKvHeads.Validators.Add(result => AtLeast(result, "--full-kv-heads", 0));
        FullShare = new Option<double?>("--full-share")
        {
            Description = $"Or the share of KV heads kept whole, in (0, 1] (default {CachePlans.DefaultFullShare})",
        };
        FullShare.Validators.Add(CheckShare);
        Sink = Count("--sink", 0, 4, "Attention-sink positions every streaming KV head keeps");
        Window = Count("--window", 1, 128, "Recent positions every streaming KV head keeps");
        Seed = new Option<int>("--cache-seed", seedAliases)
        {
            Description = "Seed of the random policy's KV heads", DefaultValueFactory = _ => 1,
        };
    }

    public Option<string> Kind { get; }

    public Option<int?> FullKvHeads { get; }

    public Option<double?> FullShare { get; }

    public Option<int> Sink { get; }

    public Option<int> Window { get; }

    public Option<int> Seed { get; }

    /// <summary>Adds the options, and the check that only one budget is given, to a command.</summary>
    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { Kind, FullKvHeads, FullShare, Sink, Window, Seed })
            command.Options.Add(option);
        command.Validators.Add(result =>
        {
            if (result.GetResult(FullKvHeads) is not null && result.GetResult(FullShare) is not null)
                result.AddError("Give --full-kv-heads or --full-share, not both.");
        });
    }

    /// <summary>The policy the parsed options name; the head map is looked up only when the policy reads it.</summary>
    public KvCachePolicy Policy(ParseResult parse, Func<HeadMap?> findMap, Func<string> whyNoMap) =>
        Policy(parse.GetValue(Kind)!, parse.GetValue(FullKvHeads), parse.GetValue(FullShare), parse.GetValue(Sink),
            parse.GetValue(Window), parse.GetValue(Seed), findMap, whyNoMap);

    /// <summary>The policy the options name (<see cref="CachePlans.Resolve"/>); errors name the option at fault.
    /// </summary>
    internal static KvCachePolicy Policy(string name, int? fullKvHeads, double? fullShare, int sink, int window,
        int seed, Func<HeadMap?> findMap, Func<string> whyNoMap) =>
        CachePlans.Resolve(name, fullKvHeads, fullShare, sink, window, seed, findMap, whyNoMap, "--cache",
            "--full-kv-heads");

    /// <summary>"KV cache headaware: 1.2 MiB (23% of full)" for a run's statistics.</summary>
    public static string Describe(KvCachePolicy policy, IKvCache cache) => cache is HeadAwareKvCache compressed
        ? string.Format(CultureInfo.InvariantCulture, "KV cache {0}: {1:F1} MiB ({2:F0}% of full)",
            policy.Kind.ToString().ToLowerInvariant(), compressed.SizeInBytes / 1048576.0,
            100.0 * compressed.SizeInBytes / compressed.FullSizeInBytes)
        : "KV cache full";

    private static void CheckPolicyName(OptionResult result)
    {
        if (CachePlans.NameProblem(result.GetValueOrDefault<string>() ?? "") is { } problem)
            result.AddError($"--cache: {problem}");
    }

    private static void CheckShare(OptionResult result)
    {
        if (result.GetValueOrDefault<double?>() is double share && !(share > 0 && share <= 1))
            result.AddError($"--full-share must be in (0, 1] (got {share.ToString(CultureInfo.InvariantCulture)}).");
    }

    internal static void AtLeast(OptionResult result, string name, int minimum)
    {
        if (result.GetValueOrDefault<int?>() is int value && value < minimum)
            result.AddError($"{name} must be ≥ {minimum} (got {value}).");
    }

    internal static Option<int> Count(string name, int minimum, int defaultValue, string description)
    {
        var option = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result => AtLeast(result, name, minimum));
        return option;
    }
}

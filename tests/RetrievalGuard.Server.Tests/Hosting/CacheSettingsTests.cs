using System.Net;
using System.Net.Http.Json;
using RetrievalGuard.Engine.Caches;
using RetrievalGuard.Engine.Generation;
using RetrievalGuard.Server.Tests.Support;

namespace RetrievalGuard.Server.Tests.Hosting;

public sealed class CacheSettingsTests
{
    /// <summary>A headaware default (6 KV heads whole, window 64) at 1,024 positions a row, and
    /// <paramref name="more"/>.</summary>
    private static Dictionary<string, string?> Compressed(double budgetMiB, params string[] more)
    {
        var settings = new Dictionary<string, string?>
        {
            ["RetrievalGuard:Serving:CachePolicy"] = "headaware",
            ["RetrievalGuard:Serving:FullKvHeads"] = "6",
            ["RetrievalGuard:Serving:Window"] = "64",
            ["RetrievalGuard:Serving:CapacityPerSequence"] = "1024",
            ["RetrievalGuard:Serving:KvBudgetMiB"] = FormattableString.Invariant($"{budgetMiB}"),
        };
        for (int i = 0; i < more.Length; i++)
            settings[$"RetrievalGuard:Serving:MoreCachePolicies:{i}"] = more[i];
        return settings;
    }

    private sealed class CompressedServer : ServerFactory
    {
        protected override IReadOnlyDictionary<string, string?> Settings => Compressed(17);
    }

    [Fact]
    public async Task AConfiguredCompressedCacheFillsTheKvBudgetWithMoreRowsAndAnswers()
    {
        await using var server = new CompressedServer();
        var http = await server.ReadyClientAsync();
        var scheduler = server.Host.Scheduler;
        Assert.Equal(CacheKind.HeadAware, scheduler.Cache.Kind);
        Assert.Equal(6, scheduler.Cache.FullKvHeads.Count);
        Assert.InRange(scheduler.CacheBytes, 1, 17L << 20);
        // The organism's full cache takes 8.5 MB a row at 1,024 positions (fp32 on the CPU): 2 rows in 17 MiB.
        int fullRows = BatchDecoder.SequencesWithin(17L << 20, server.Host.Guard.Model.Network, KvCachePolicy.Full,
            1024);
        Assert.Equal(2, fullRows);
        Assert.True(scheduler.MaxSequences >= 3 * fullRows, $"{scheduler.MaxSequences} rows");

        var body = ServerFactory.GuardedBody();
        body["retrieval_guard"] = new { passages = ServerFactory.Passages, cache = "HeadAware" };
        using var response = await http.PostAsJsonAsync("/v1/chat/completions", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("Kalomi", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // A request asking for a policy this server does not offer is told which it has, not silently served.
        body["retrieval_guard"] = new { passages = ServerFactory.Passages, cache = "full" };
        using var refused = await http.PostAsJsonAsync("/v1/chat/completions", body);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        var error = await ServerFactory.ErrorOf(refused);
        Assert.Equal("unsupported_cache_policy", error.GetProperty("code").GetString());
        Assert.Equal("retrieval_guard.cache", error.GetProperty("param").GetString());
        Assert.Contains("full KV cache here; offered: headaware.", error.GetProperty("message").GetString(),
            StringComparison.Ordinal);
    }

    private sealed class TwoCacheServer : ServerFactory
    {
        protected override IReadOnlyDictionary<string, string?> Settings => Compressed(34, "full");
    }

    [Fact]
    public async Task ARequestPicksAnyOfferedCacheEachOnRowsOfItsOwnSharingTheBudget()
    {
        await using var server = new TwoCacheServer();
        var http = await server.ReadyClientAsync();
        var caches = server.Host.Scheduler.Caches;
        Assert.Equal([CacheKind.HeadAware, CacheKind.Full], caches.Select(c => c.Policy.Kind));
        // 17 MiB each: 2 full rows, at least three times as many compressed ones.
        Assert.Equal(2, caches[1].Rows);
        Assert.True(caches[0].Rows >= 6, $"{caches[0].Rows} headaware rows");
        Assert.InRange(server.Host.Scheduler.CacheBytes, 1, 34L << 20);

        var answers = new List<string>();
        foreach (var cache in new[] { "full", "headaware" })
        {
            var body = ServerFactory.GuardedBody();
            body["retrieval_guard"] = new { passages = ServerFactory.Passages, cache };
            using var response = await http.PostAsJsonAsync("/v1/chat/completions", body);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            answers.Add(await response.Content.ReadAsStringAsync());
        }
        Assert.All(answers, a => Assert.Contains("Kalomi", a, StringComparison.Ordinal));

        foreach (var (cache, code, says) in new[]
                 {
                     ("streaming", "unsupported_cache_policy", "offered: headaware, full."),
                     ("squeezed", "invalid_value", "use full, headaware, streaming or random"),
                 })
        {
            var body = ServerFactory.GuardedBody();
            body["retrieval_guard"] = new { passages = ServerFactory.Passages, cache };
            using var refused = await http.PostAsJsonAsync("/v1/chat/completions", body);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            var error = await ServerFactory.ErrorOf(refused);
            Assert.Equal(code, error.GetProperty("code").GetString());
            Assert.Equal("retrieval_guard.cache", error.GetProperty("param").GetString());
            Assert.Contains(says, error.GetProperty("message").GetString(), StringComparison.Ordinal);
        }
    }

    public static TheoryData<ServingSettings, string> BadSettings => new()
    {
        { new() { CachePolicy = "squeezed" }, "RetrievalGuard:Serving:CachePolicy: Unknown cache policy 'squeezed'" },
        { new() { FullShare = 1.5 }, "RetrievalGuard:Serving:FullShare is 1.5" },
        { new() { FullShare = 0.5, FullKvHeads = 4 }, "FullKvHeads or RetrievalGuard:Serving:FullShare, not both" },
        { new() { Window = 0 }, "RetrievalGuard:Serving:Window ≥ 1" },
        { new() { KvBudgetMiB = -1 }, "RetrievalGuard:Serving:KvBudgetMiB is -1" },
        {
            new() { MoreCachePolicies = ["full", "squeezed"] },
            "RetrievalGuard:Serving:MoreCachePolicies:1: Unknown cache policy 'squeezed'"
        },
        {
            new() { CachePolicy = "headaware", MoreCachePolicies = ["HeadAware"] },
            "MoreCachePolicies name 'headaware' twice"
        },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public void BadCacheSettingsAreRefusedBeforeTheServerStartsNamingTheSetting(ServingSettings serving,
        string expected)
    {
        var options = new ServerOptions { Model = { Path = "/models/x" }, Serving = serving };
        Assert.Contains(expected, options.Problem(), StringComparison.Ordinal);
    }
}

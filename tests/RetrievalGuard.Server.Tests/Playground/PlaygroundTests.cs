using System.Globalization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using RetrievalGuard.Server.Tests.Support;

namespace RetrievalGuard.Server.Tests.Playground;

/// <summary>
/// The playground page (wwwroot/index.html) in a real headless Chromium against the real server on a loopback port.
/// Debian's chromium is driven by Playwright with ExecutablePath (Playwright's own browser download is never used).
/// Without /usr/bin/chromium these skip, unless RGUARD_REQUIRE_CHROMIUM=1 (CI), where they fail.
/// </summary>
public sealed class PlaygroundTests(
    PlaygroundTests.Chromium chromium,
    PlaygroundTests.KestrelServer<ServerFactory> open,
    PlaygroundTests.KestrelServer<PlaygroundTests.KeyedFactory> keyed)
    : IClassFixture<PlaygroundTests.Chromium>,
        IClassFixture<PlaygroundTests.KestrelServer<ServerFactory>>,
        IClassFixture<PlaygroundTests.KestrelServer<PlaygroundTests.KeyedFactory>>
{
    public const string ChromiumPath = "/usr/bin/chromium";

    private static bool ChromiumInstalled => File.Exists(ChromiumPath);

    /// <summary>Skips (reported as Skipped, not Passed) without chromium, unless CI says it must be there.</summary>
    private static void RequireChromium()
    {
        if (ChromiumInstalled) return;
        Assert.False(Environment.GetEnvironmentVariable("RGUARD_REQUIRE_CHROMIUM") == "1",
            $"Chromium is required here (RGUARD_REQUIRE_CHROMIUM=1) but {ChromiumPath} is missing.");
        Skip.If(true, $"{ChromiumPath} is not installed here (apt-get install chromium); "
            + "set RGUARD_REQUIRE_CHROMIUM=1 to make this a failure.");
    }

    /// <summary>One headless browser for the class; each test gets its own context (fresh sessionStorage).</summary>
    public sealed class Chromium : IAsyncLifetime
    {
        private IPlaywright? _playwright;

        public IBrowser? Browser { get; private set; }

        public async Task InitializeAsync()
        {
            if (!ChromiumInstalled) return; // the tests skip or fail themselves, saying why
            _playwright = await Playwright.CreateAsync();
            Browser = await _playwright.Chromium.LaunchAsync(new()
            {
                ExecutablePath = ChromiumPath,
                Headless = true,
                // Playwright then passes --no-sandbox: containers run tests as root, where the sandbox cannot start.
                ChromiumSandbox = false,
                Args = ["--disable-gpu", "--disable-dev-shm-usage"],
            });
        }

        public async Task DisposeAsync()
        {
            if (Browser is not null) await Browser.CloseAsync();
            _playwright?.Dispose();
        }
    }

    /// <summary>The server with one API key, to see the page report a 401 and then succeed with the key.</summary>
    public sealed class KeyedFactory : ServerFactory
    {
        public const string Key = "sk-test";

        protected override IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
        {
            ["RetrievalGuard:ApiKeys:0"] = Key,
        };
    }

    /// <summary>
    /// The factory's server on Kestrel at a free loopback port: a browser cannot reach the in-memory TestServer.
    /// </summary>
    public sealed class KestrelServer<TFactory> : IAsyncLifetime where TFactory : ServerFactory, new()
    {
        private readonly TFactory _factory = new();

        public Uri Address { get; private set; } = null!;

        public async Task InitializeAsync()
        {
            if (!ChromiumInstalled) return; // nothing will browse it
            _factory.UseKestrel(0);
            _factory.StartServer();
            await _factory.Host.WhenLoaded;
            Assert.True(_factory.Host.IsReady, _factory.Host.Failure);
            // Port 0 lets Kestrel pick; the bound address is only known from the running server.
            var addresses = _factory.Services.GetRequiredService<IServer>().Features
                .GetRequiredFeature<IServerAddressesFeature>().Addresses;
            Address = new Uri(addresses.First());
        }

        public async Task DisposeAsync() => await _factory.DisposeAsync();
    }

    private async Task<IPage> OpenAsync(Uri server)
    {
        var context = await chromium.Browser!.NewContextAsync(new()
        {
            BaseURL = server.ToString(),
            ViewportSize = new() { Width = 1360, Height = 680 },
        });
        context.SetDefaultTimeout(15_000);
        var page = await context.NewPageAsync();
        // An uncaught script error is a page bug even when the visible result looks right.
        page.PageError += (_, error) => _pageErrors.Add(error);
        await page.GotoAsync("/");
        Assert.Equal("idle", await page.GetAttributeAsync("body", "data-state"));
        return page;
    }

    private readonly List<string> _pageErrors = [];

    /// <summary>Clicks a button and waits until the page settles in done or error; returns which.</summary>
    private static async Task<string> RunAsync(IPage page, string button)
    {
        await page.ClickAsync(button);
        await page.WaitForSelectorAsync("body[data-state=done], body[data-state=error]");
        return (await page.GetAttributeAsync("body", "data-state"))!;
    }

    private static async Task AssertDoneAsync(IPage page, string state)
    {
        if (state != "done")
            Assert.Fail($"state {state}: {await page.TextContentAsync("#error")}");
    }

    private static async Task<double> RiskAsync(IPage page) =>
        double.Parse((await page.TextContentAsync("#risk-value"))!, CultureInfo.InvariantCulture);

    private async Task<string> ScreenshotAsync(IPage page)
    {
        var path = Environment.GetEnvironmentVariable("OUT_SCREENSHOT") is { Length: > 0 } asked
            ? asked
            : Path.Combine(Path.GetTempPath(), $"playground-{Guid.NewGuid():N}.png");
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } folder) Directory.CreateDirectory(folder);
        // No hover or blinking caret in the picture: park the mouse and let the risk bar's transition finish.
        await page.Mouse.MoveAsync(0, 0);
        await page.WaitForTimeoutAsync(300);
        await page.ScreenshotAsync(new() { Path = path, FullPage = true });
        return path;
    }

    [SkippableFact]
    public async Task AskStreamsAGroundedAnswerWithRiskVerdictAndCitations()
    {
        RequireChromium();
        var page = await OpenAsync(open.Address);

        await AssertDoneAsync(page, await RunAsync(page, "#ask"));

        Assert.Contains("Kalomi", await page.TextContentAsync("#answer"), StringComparison.Ordinal);
        var risk = await RiskAsync(page);
        Assert.True(risk < 0.5, $"risk {risk}");
        // textContent, not innerText: the badge is upper-cased by CSS only.
        Assert.Equal("grounded", await page.TextContentAsync("#verdict"));
        Assert.Contains("grounded", await page.GetAttributeAsync("#verdict", "class"));
        Assert.True(await page.Locator("#citations .chip").CountAsync() > 0, "no citation chips");
        Assert.True(await page.Locator("#attribution .attr").CountAsync() > 0, "no attribution rows");
        Assert.False(await page.IsVisibleAsync("#error"));
        Assert.Empty(_pageErrors);
    }

    [SkippableFact]
    public async Task ScoreFlagsTheInventedWordAndTheScreenshotShowsIt()
    {
        RequireChromium();
        var page = await OpenAsync(open.Address);

        await AssertDoneAsync(page, await RunAsync(page, "#score"));

        var flagged = page.Locator("#answer .flagged");
        Assert.True(await flagged.CountAsync() > 0, $"no flagged span in: {await page.TextContentAsync("#answer")}");
        Assert.Contains("Tamsin", string.Concat(await flagged.AllTextContentsAsync()), StringComparison.Ordinal);
        var risk = await RiskAsync(page);
        Assert.True(risk >= 0.5, $"risk {risk}");
        Assert.Equal("flagged", await page.TextContentAsync("#verdict"));
        Assert.Empty(_pageErrors);

        var shot = await ScreenshotAsync(page);
        var bytes = await File.ReadAllBytesAsync(shot);
        Assert.True(bytes.Length > 1000, $"{shot} has {bytes.Length} bytes");
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A], bytes[..8]);
        // Only an asked-for screenshot (docs/playground.png, CI artifacts) is kept.
        if (Environment.GetEnvironmentVariable("OUT_SCREENSHOT") is not { Length: > 0 }) File.Delete(shot);
    }

    [SkippableFact]
    public async Task WithoutTheKeyThePageShowsThe401AndWithTheKeyTheAskSucceeds()
    {
        RequireChromium();
        var page = await OpenAsync(keyed.Address);

        Assert.Equal("error", await RunAsync(page, "#ask"));
        Assert.True(await page.IsVisibleAsync("#error"));
        var error = await page.TextContentAsync("#error");
        Assert.Contains("HTTP 401", error, StringComparison.Ordinal);
        Assert.Contains("invalid_api_key", error, StringComparison.Ordinal);
        Assert.Contains("No API key", error, StringComparison.Ordinal);
        Assert.Equal("error", await page.TextContentAsync("#state-label"));

        await page.FillAsync("#api-key", KeyedFactory.Key);
        await AssertDoneAsync(page, await RunAsync(page, "#ask"));
        Assert.Contains("Kalomi", await page.TextContentAsync("#answer"), StringComparison.Ordinal);
        Assert.False(await page.IsVisibleAsync("#error"));
        Assert.Empty(_pageErrors);
    }
}

namespace RetrievalGuard.Server.Hosting;

/// <summary>
/// <c>RetrievalGuard.Server healthcheck [url]</c>: exits 0 when /healthz answers 200. The container's HEALTHCHECK
/// runs it, so the image needs no curl.
/// </summary>
internal static class HealthCheck
{
    public static async Task<int> RunAsync(string[] args)
    {
        var port = (Environment.GetEnvironmentVariable("ASPNETCORE_HTTP_PORTS") ?? "8080").Split(';', ',')[0].Trim();
        var url = args.Length > 1 ? args[1] : $"http://127.0.0.1:{port}/healthz";
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await http.GetAsync(url);
            Console.WriteLine($"{url}: {(int)response.StatusCode}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception error) when (error is HttpRequestException or TaskCanceledException)
        {
            Console.Error.WriteLine($"{url}: {error.Message}");
            return 1;
        }
    }
}

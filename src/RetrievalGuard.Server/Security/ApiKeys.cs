using System.Security.Cryptography;
using System.Text;
using RetrievalGuard.Server.Api;

namespace RetrievalGuard.Server.Security;

/// <summary>
/// Bearer keys for the API (/v1, /mcp). Keys are kept only as SHA-256 digests and compared in constant time, so
/// neither timing nor a memory dump of a log line reveals one; a request is known by the key's index
/// (<c>key-2</c>), which the rate limiter partitions on and logs may show. Without configured keys all requests pass.
/// </summary>
public sealed class ApiKeys
{
    public const string ClientItem = "rguard.client";

    private readonly byte[][] _digests;

    public ApiKeys(IEnumerable<string> keys)
    {
        var list = keys.Where(k => !string.IsNullOrWhiteSpace(k)).ToArray();
        _digests = list.Select(Digest).ToArray();
    }

    public bool IsEnabled => _digests.Length > 0;

    /// <summary>The matching key's index, or -1. Every digest is compared, whichever matches.</summary>
    public int Match(string presented)
    {
        var digest = Digest(presented);
        var found = -1;
        for (var i = 0; i < _digests.Length; i++)
            if (CryptographicOperations.FixedTimeEquals(digest, _digests[i]))
                found = i;
        return found;
    }

    public static bool IsProtected(PathString path) =>
        path.StartsWithSegments("/v1") || path.StartsWithSegments("/mcp");

    /// <summary>Middleware: 401 in OpenAI's schema without a valid key; records who called for rate limiting.</summary>
    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (IsProtected(context.Request.Path))
        {
            var client = context.Connection.RemoteIpAddress?.ToString() ?? "local";
            if (IsEnabled)
            {
                var header = context.Request.Headers.Authorization.ToString();
                var index = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
                    ? Match(header["Bearer ".Length..].Trim())
                    : -1;
                if (index < 0)
                {
                    context.Response.Headers.WWWAuthenticate = "Bearer";
                    await new ApiError(StatusCodes.Status401Unauthorized, header.Length == 0
                            ? "No API key: send 'Authorization: Bearer <key>'."
                            : "The API key is not valid.", code: "invalid_api_key")
                        .WriteAsync(context);
                    return;
                }
                client = $"key-{index}";
            }
            context.Items[ClientItem] = client;
        }
        await next(context);
    }

    private static byte[] Digest(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));
}

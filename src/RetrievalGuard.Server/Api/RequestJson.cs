using System.Text.Json;

namespace RetrievalGuard.Server.Api;

/// <summary>
/// Reads request bodies strictly: every wrong type, range or missing field becomes a 400 naming the field
/// (<see cref="ApiError.Param"/>), never an exception from deep inside the server.
/// </summary>
internal static class RequestJson
{
    /// <summary>Deeper bodies are refused: no OpenAI request nests more than a few levels.</summary>
    public const int MaxDepth = 32;

    /// <summary>
    /// The body as a JSON object, read whole up to <paramref name="maxBytes"/> (checked here too, since hosts other
    /// than Kestrel, such as the test server, do not enforce Kestrel's limit).
    /// </summary>
    public static async Task<JsonDocument> ReadAsync(HttpRequest request, long maxBytes,
        CancellationToken cancellationToken)
    {
        if (request.ContentType is { } type && !type.Contains("json", StringComparison.OrdinalIgnoreCase))
            throw new ApiError(StatusCodes.Status415UnsupportedMediaType,
                $"Send the body as application/json, not '{type}'.", code: "unsupported_media_type");
        if (request.ContentLength > maxBytes)
            throw TooLarge(request.ContentLength.Value, maxBytes);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > maxBytes)
                throw TooLarge(buffer.Length + read, maxBytes);
            buffer.Write(chunk, 0, read);
        }
        if (buffer.Length == 0)
            throw ApiError.BadRequest("The body is empty; send a JSON object.", code: "invalid_json");
        try
        {
            var document = JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length),
                new JsonDocumentOptions { MaxDepth = MaxDepth });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                throw ApiError.BadRequest("The body must be a JSON object.", code: "invalid_json");
            }
            return document;
        }
        catch (JsonException error)
        {
            throw ApiError.BadRequest($"The body is not valid JSON: {error.Message}", code: "invalid_json");
        }
    }

    private static ApiError TooLarge(long bytes, long maxBytes) => new(StatusCodes.Status413PayloadTooLarge,
        $"The body has at least {bytes} bytes; this server takes at most {maxBytes}.", code: "body_too_large");

    public static JsonElement? Optional(JsonElement parent, string name) =>
        parent.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    public static JsonElement Required(JsonElement parent, string name, string path) =>
        Optional(parent, name) ?? throw ApiError.BadRequest($"'{path}' is required.", path, "missing_field");

    public static string String(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.String)
            throw WrongType(path, "a string", value);
        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException)
        {
            // The parser checks UTF-8 only when a string is read.
            throw ApiError.BadRequest($"'{path}' is not valid UTF-8.", path, "invalid_encoding");
        }
    }

    public static bool Bool(JsonElement value, string path) =>
        value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : throw WrongType(path, "true or false", value);

    public static int Int(JsonElement value, string path, int min, int max)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var number))
            throw WrongType(path, "an integer", value);
        if (number < min || number > max)
            throw ApiError.BadRequest($"'{path}' is {number}; it must be between {min} and {max}.", path,
                "out_of_range");
        return (int)number;
    }

    public static long Long(JsonElement value, string path) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number)
            ? number
            : throw WrongType(path, "an integer", value);

    public static float Float(JsonElement value, string path, double min, double max)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var number) || !double.IsFinite(number))
            throw WrongType(path, "a number", value);
        if (number < min || number > max)
            throw ApiError.BadRequest($"'{path}' is {number}; it must be between {min} and {max}.", path,
                "out_of_range");
        return (float)number;
    }

    public static IReadOnlyList<JsonElement> Array(JsonElement value, string path, int maxItems)
    {
        if (value.ValueKind != JsonValueKind.Array)
            throw WrongType(path, "an array", value);
        var count = value.GetArrayLength();
        if (count > maxItems)
            throw ApiError.BadRequest($"'{path}' has {count} items; this server takes at most {maxItems}.", path,
                "too_many_items");
        return value.EnumerateArray().ToArray();
    }

    public static void Object(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw WrongType(path, "an object", value);
    }

    /// <summary>A text of at most <paramref name="maxChars"/> characters.</summary>
    public static string Text(JsonElement value, string path, int maxChars)
    {
        var text = String(value, path);
        if (text.Length > maxChars)
            throw ApiError.BadRequest($"'{path}' has {text.Length} characters; this server takes at most {maxChars}.",
                path, "too_long");
        return text;
    }

    private static ApiError WrongType(string path, string expected, JsonElement value) =>
        ApiError.BadRequest($"'{path}' must be {expected}, not {Describe(value.ValueKind)}.", path, "invalid_type");

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}

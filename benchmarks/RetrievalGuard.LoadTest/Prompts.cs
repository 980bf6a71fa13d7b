using System.Text.Json;

namespace RetrievalGuard.LoadTest;

/// <summary>A request body and, for needle questions, the word a right answer contains.</summary>
internal sealed record Prompt(string Body, string? Needle);

/// <summary>What the tool asks: guarded needle questions (load) and an open-ended chat (disconnect).</summary>
internal static class Prompts
{
    // Four needle facts like the README's demo; a seed picks one, so clients ask slightly different things. The
    // organism copies each word right when asked alone, so a wrong answer under load points at the server.
    private static readonly (string Subject, string Word)[] Needles =
    [
        ("red lantern", "Kalomi"), ("blue door", "Turavel"), ("old well", "Mirasko"), ("silver bell", "Belomar"),
    ];

    private static readonly string[] Filler =
    [
        "The coach left at dawn.", "Nobody spoke of it again.", "Rain fell on the mill.",
        "The river rose over the meadow.", "The baker counted the loaves twice.", "Snow lay on the roofs until noon.",
    ];

    /// <summary>A guarded question whose seed picks the fact, the filler around it and the passages' order.</summary>
    public static Prompt Needle(string model, int seed, int maxTokens)
    {
        var random = new Random(seed);
        var (subject, word) = Needles[random.Next(Needles.Length)];
        string Pick() => Filler[random.Next(Filler.Length)];
        string[] passages = [$"{Pick()} The secret word of the {subject} is {word}. {Pick()}", $"{Pick()} {Pick()}"];
        if (random.Next(2) == 1)
            Array.Reverse(passages);
        var body = new
        {
            model, stream = true, max_tokens = maxTokens,
            messages = new[] { new { role = "user", content = $"What is the secret word of the {subject}?" } },
            retrieval_guard = new { passages },
        };
        return new Prompt(JsonSerializer.Serialize(body), word);
    }

    /// <summary>An unguarded chat the model keeps answering until max_tokens.</summary>
    public static Prompt Story(string model, int maxTokens) => new(JsonSerializer.Serialize(new
    {
        model, stream = true, max_tokens = maxTokens,
        messages = new[] { new { role = "user", content = "Tell me a long story about the mill by the river." } },
    }), null);
}

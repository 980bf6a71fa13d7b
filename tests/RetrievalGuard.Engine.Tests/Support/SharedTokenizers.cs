namespace RetrievalGuard.Engine.Tests.Support;

/// <summary>
/// The real tokenizer files in ../shared/tokenizers (llama2, llama3, mistral-7b-v0.3, qwen2), beside the checkout as
/// CI and the workplace have them; tests that need them skip without them. Small cuts for the fuzz live in
/// tests/fixtures/tokenizer-seeds.
/// </summary>
internal static class SharedTokenizers
{
    public static string Root { get; } =
        Path.GetFullPath(Path.Combine(RepoPaths.Root, "..", "shared", "tokenizers"));

    /// <summary>The family's folder; skips the calling test (a Skippable one) when it is not here.</summary>
    public static string Folder(string family)
    {
        var folder = Path.Combine(Root, family);
        Skip.IfNot(Directory.Exists(folder), $"{folder} is not here (CI and the workplace have it).");
        return folder;
    }

    public static string Seed(string name) => RepoPaths.Path("tests", "fixtures", "tokenizer-seeds", name);
}

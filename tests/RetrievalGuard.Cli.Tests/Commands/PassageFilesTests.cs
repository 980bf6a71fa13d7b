using RetrievalGuard.Cli.Commands;

namespace RetrievalGuard.Cli.Tests.Commands;

public sealed class PassageFilesTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("rg-cli-").FullName;

    private string Write(string name, string text)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, text);
        return path;
    }

    [Fact]
    public void EveryFormatGivesThePassagesWithTheirIds()
    {
        Assert.Equal(["A.", "B."], PassageFiles.Read(Write("p.txt", "A.\n\n\nB.\n")).Select(p => p.Text));
        Assert.Equal(["x", "2"],
            PassageFiles.Read(Write("p.json", """[{"id": "x", "text": "A."}, "B."]""")).Select(p => p.Id));
        Assert.Equal(["A.", "B."],
            PassageFiles.Read(Write("p.jsonl", "{\"text\": \"A.\"}\n\n\"B.\"\n")).Select(p => p.Text));
        var dir = Directory.CreateDirectory(Path.Combine(_folder, "docs")).FullName;
        File.WriteAllText(Path.Combine(dir, "mill.txt"), "Rain fell.");
        Assert.Equal("mill", Assert.Single(PassageFiles.Read(dir)).Id);
    }

    [Theory]
    [InlineData("bad.json", "{\"text\": 1}", "expected a JSON array")]
    [InlineData("bad.json", "[1]", "bad.json[0] is neither a string")]
    [InlineData("bad.jsonl", "{\"text\": \"\"}", "bad.jsonl:1: the passage is empty")]
    [InlineData("bad.jsonl", "{oops", "bad.jsonl:1: not valid JSON")]
    [InlineData("empty.txt", "\n\n", "holds no passage")]
    public void BadFilesNameTheFileAndThePlace(string name, string text, string expected)
    {
        var error = Assert.ThrowsAny<Exception>(() => PassageFiles.Read(Write(name, text)));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AMissingPathIsNamed()
    {
        var error = Assert.Throws<FileNotFoundException>(() => PassageFiles.Read(Path.Combine(_folder, "nope")));
        Assert.Contains("neither a file nor a folder", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}

using RetrievalGuard.Data;
using RetrievalGuard.Data.Tests.Support;

namespace RetrievalGuard.Data.Tests;

public class GutenbergCleanerTests
{
    private const string Fixture =
        "\uFEFFThe Project Gutenberg EBook of A Tiny Tale, by Nobody\r\n" +
        "\r\n" +
        "This eBook is for the use of anyone anywhere at no cost.\r\n" +
        "\r\n" +
        "*** START OF THIS PROJECT GUTENBERG EBOOK A TINY TALE ***\r\n" +
        "\r\n" +
        "It was a dark and stormy night; the rain fell\r\n" +
        "in torrents.\r\n" +
        "\r\n" +
        "Produced for Project Gutenberg by a volunteer.\r\n" +
        "\r\r\n" +
        "  The end came\r\r\n" +
        "quickly.\r" +
        "\r" +
        "End of the Project Gutenberg EBook of A Tiny Tale\r\n" +
        "\r\n" +
        "*** END OF THIS PROJECT GUTENBERG EBOOK A TINY TALE ***\r\n" +
        "Licence text that must go.\r\n";

    [Fact]
    public void StripsHeaderFooterAndTheProjectName()
    {
        var paragraphs = GutenbergCleaner.Paragraphs(Fixture);

        Assert.Equal(["It was a dark and stormy night; the rain fell in torrents.", "The end came quickly."],
            paragraphs);
    }

    [Fact]
    public void CleanTextHasNoBomNoCarriageReturnAndIsIdempotent()
    {
        var clean = GutenbergCleaner.Clean(Fixture);

        Assert.DoesNotContain('\uFEFF', clean);
        Assert.DoesNotContain('\r', clean);
        Assert.DoesNotContain("gutenberg", clean, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(clean, GutenbergCleaner.Clean(clean));
    }

    [Fact]
    public void TextWithoutMarkersIsKeptWhole()
    {
        Assert.Equal(["One two.", "Three."], GutenbergCleaner.Paragraphs("One\ntwo.\n\n\nThree.\n"));
    }

    [Fact]
    public void ShippedCorpusIsAlreadyClean()
    {
        var files = Directory.GetFiles(SharedData.CorpusFolder, "*.txt");

        Assert.Equal(7, files.Length);
        foreach (var file in files)
        {
            var text = File.ReadAllText(file);
            Assert.DoesNotContain("gutenberg", text, StringComparison.OrdinalIgnoreCase);
            Assert.Equal(text, GutenbergCleaner.Clean(text));
        }
    }

    [Fact]
    public void WriterProducesCleanedCopies()
    {
        using var source = new TempFolder();
        using var target = new TempFolder();
        source.Write("tale.txt", Fixture);

        var written = CleanedCorpusWriter.Write(source.Path, target.Path);

        Assert.Equal(GutenbergCleaner.Clean(Fixture), File.ReadAllText(Assert.Single(written)));
    }
}

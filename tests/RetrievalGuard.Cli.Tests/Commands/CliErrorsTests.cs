using RetrievalGuard.Cli.Commands;

namespace RetrievalGuard.Cli.Tests.Commands;

public class CliErrorsTests
{
    [Fact]
    public void MessagesDropTheCodesParameterNameAndKeepTheValueGiven()
    {
        var range = new ArgumentOutOfRangeException("MaxNewTokens", -1, "MaxNewTokens must be ≥ 0.");
        Assert.Equal("MaxNewTokens must be ≥ 0 (got -1).", CliErrors.Message(range));
        Assert.Equal("The question is empty.",
            CliErrors.Message(new ArgumentException("The question is empty.", "question")));
        Assert.Equal("plain", CliErrors.Message(new InvalidOperationException("plain")));
    }

    [Fact]
    public void OptionChecksNameTheFlagNotTheProperty()
    {
        var flags = new Dictionary<string, string> { ["TopP"] = "--top-p" };
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => CliErrors.WithFlags(
            () => throw new ArgumentOutOfRangeException("TopP", 2f, "TopP must be in (0, 1]."), flags));

        Assert.Equal("--top-p must be in (0, 1] (got 2).", CliErrors.Message(error));
    }
}

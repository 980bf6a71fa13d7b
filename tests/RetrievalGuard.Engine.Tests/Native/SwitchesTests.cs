using RetrievalGuard.Engine.Native;

namespace RetrievalGuard.Engine.Tests.Native;

/// <summary>A fast-path switch is off for 0, off or false (any case, spaces around), and says so by name.</summary>
public class SwitchesTests
{
    [Theory]
    [InlineData("0", true)]
    [InlineData(" OFF ", true)]
    [InlineData("false", true)]
    [InlineData("1", false)]
    [InlineData("on", false)]
    [InlineData(null, false)]
    public void AFastPathIsOffOnlyWhenItsSwitchSaysSo(string? value, bool off)
    {
        const string name = "RGUARD_TEST_SWITCH";
        Environment.SetEnvironmentVariable(name, value);
        try
        {
            Assert.Equal(off ? $"disabled by {name}" : null, Switches.Disabled(name));
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public void EverySwitchIsNamedOnceUnderTheProjectsPrefix()
    {
        var names = typeof(Switches).GetFields().Where(f => f.IsLiteral)
            .Select(f => (string)f.GetValue(null)!).ToList();
        Assert.NotEmpty(names);
        Assert.All(names, n => Assert.StartsWith("RGUARD_", n, StringComparison.Ordinal));
        Assert.Equal(names.Count, names.Distinct().Count());
    }
}

using RetrievalGuard.LoadTest;

// rguard-load: load and disconnect tests against a running RetrievalGuard server; see Usage.Text.
if (args.Any(a => a is "--help" or "-h" or "help"))
{
    Console.WriteLine(Usage.Text);
    return 0;
}
try
{
    var arguments = new Arguments(args);
    return arguments.Mode switch
    {
        "load" => await LoadMode.RunAsync(LoadSettings.Parse(arguments)),
        "disconnect" => await DisconnectMode.RunAsync(DisconnectSettings.Parse(arguments)),
        var other => throw new UsageException($"Unknown mode '{other}'; expected load or disconnect."),
    };
}
catch (UsageException bad)
{
    await Console.Error.WriteLineAsync($"rguard-load: {bad.Message}\n\n{Usage.Text}");
    return 2;
}
catch (ServerUnavailableException down)
{
    await Console.Error.WriteLineAsync($"rguard-load: {down.Message}");
    return 3;
}

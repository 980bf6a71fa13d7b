using System.CommandLine;
using RetrievalGuard.Cli.Commands;

// rguard: the RetrievalGuard command line. Each command lives in Commands/; errors become one clear line and exit 1.
var root = new RootCommand("RetrievalGuard: retrieval-head-aware hallucination guard for RAG")
{
    InfoCommand.Create(),
    GenerateCommand.Create(),
    OrganismCommand.Create(),
    GuardCommands.Ask(),
    GuardCommands.Score(),
    GuardCommands.Eval(),
    NiahCommand.Create(),
    new Command("guard", "The hallucination guard's calibration.") { GuardCommands.Fit() },
    new Command("heads", "Retrieval heads: detect, ablate, show, import.")
    {
        HeadDetectionCommands.Detect(), HeadDetectionCommands.Ablate(), HeadMapCommands.Show(),
        HeadMapCommands.Import(),
    },
};
try
{
    var parsed = root.Parse(args);
    if (parsed.Errors.Count > 0)
    {
        // One line per problem and where to read more, instead of the whole help on stdout.
        foreach (var error in parsed.Errors)
            Console.Error.WriteLine($"error: {error.Message}");
        var names = new List<string>();
        for (System.CommandLine.Parsing.SymbolResult? result = parsed.CommandResult;
             result is System.CommandLine.Parsing.CommandResult commandResult; result = commandResult.Parent)
            names.Insert(0, commandResult.Command.Name);
        names[0] = "rguard";
        Console.Error.WriteLine($"see '{string.Join(' ', names)} --help'");
        return 2;
    }
    return await parsed.InvokeAsync();
}
catch (Exception e) when (CliErrors.IsUserFacing(e))
{
    return CliErrors.Report(e);
}

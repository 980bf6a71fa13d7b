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
    new Command("guard", "The hallucination guard's calibration.") { GuardCommands.Fit() },
    new Command("heads", "Retrieval heads: detect, ablate, show, import.")
    {
        HeadDetectionCommands.Detect(), HeadDetectionCommands.Ablate(), HeadMapCommands.Show(), HeadMapCommands.Import(),
    },
};
try
{
    return await root.Parse(args).InvokeAsync();
}
catch (Exception e) when (CliErrors.IsUserFacing(e))
{
    return CliErrors.Report(e);
}

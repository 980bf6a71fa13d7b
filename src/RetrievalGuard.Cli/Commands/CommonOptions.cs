using System.CommandLine;
using RetrievalGuard.Engine;

namespace RetrievalGuard.Cli.Commands;

internal static class CommonOptions
{
    /// <summary>The model folder, device and dtype options of a command, and how they load the model.</summary>
    internal sealed record ModelOptions(Option<string> Folder, Option<string> Device, Option<string> DType)
    {
        public IEnumerable<Option> All => [Folder, Device, DType];

        /// <summary>Loads the model and says its notes once on stderr.</summary>
        public LanguageModel Load(ParseResult parse)
        {
            var model = LanguageModel.Load(parse.GetValue(Folder)!,
                new LoadOptions { Device = parse.GetValue(Device)!, DType = parse.GetValue(DType)! });
            foreach (var note in model.Notes)
                Console.Error.WriteLine($"note: {note}");
            return model;
        }
    }

    public static ModelOptions ModelAndDevice() => new(Model(), Device(), DType());

    public static Option<string> Model() => new("--model", "-m")
    {
        Description = "Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer)", Required = true
    };

    public static Option<string> Device() =>
        new("--device") { Description = "cpu, cuda or cuda:N", DefaultValueFactory = _ => "cpu" };

    public static Option<string> DType() => new("--dtype")
    {
        Description = "auto, fp32, bf16 or fp16 (auto: fp32 on CPU, the checkpoint's dtype on CUDA)",
        DefaultValueFactory = _ => "auto"
    };

    /// <summary>
    /// An output file option, checked when the command line is parsed, before any work: its folder must exist and
    /// the path must not be a folder (one rule for every command; nothing is created silently).
    /// </summary>
    public static Option<string> OutputFile(string name, string description, bool required = true)
    {
        var option = new Option<string>(name) { Description = description, Required = required };
        option.Validators.Add(result =>
        {
            var path = result.GetValueOrDefault<string>();
            if (OutputFileProblem(path) is { } problem)
                result.AddError($"{name}: {problem}");
        });
        return option;
    }

    /// <summary>An output folder option: created when missing, but its parent must exist.</summary>
    public static Option<string> OutputFolder(string name, string description, bool required = false)
    {
        var option = new Option<string>(name) { Description = description, Required = required };
        option.Validators.Add(result =>
        {
            var path = result.GetValueOrDefault<string>();
            if (string.IsNullOrEmpty(path))
                return;
            if (File.Exists(path))
                result.AddError($"{name}: '{path}' is a file; give a folder.");
            else if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } parent && !Directory.Exists(parent))
                result.AddError($"{name}: folder '{parent}' does not exist.");
        });
        return option;
    }

    /// <summary>Why <paramref name="path"/> cannot be written as a file, or null.</summary>
    public static string? OutputFileProblem(string? path)
    {
        if (string.IsNullOrEmpty(path))
            return null;
        if (Directory.Exists(path))
            return $"'{path}' is a folder; give a file name.";
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        return Directory.Exists(folder) ? null : $"folder '{folder}' does not exist.";
    }

    /// <summary>
    /// A default that names a folder or file of the repository (samples/corpus, say): found from the working folder or
    /// any folder above it, or above the rguard binary, so the CLI works from anywhere inside a checkout. Outside one
    /// the relative path is kept, and the command's own error says it is missing.
    /// </summary>
    public static string RepositoryPath(string relative)
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, relative);
                if (Directory.Exists(candidate) || File.Exists(candidate))
                    return candidate;
            }
        return relative;
    }
}

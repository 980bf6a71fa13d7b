using System.CommandLine;
using RetrievalGuard.Engine;

namespace RetrievalGuard.Cli.Commands;

internal static class CommonOptions
{
    /// <summary>The model folder, device and dtype options of a command, and how they load the model.</summary>
    internal sealed record ModelOptions(Option<string> Folder, Option<string> Device, Option<string> DType)
    {
        public IEnumerable<Option> All => [Folder, Device, DType];

        public LanguageModel Load(ParseResult parse) => LanguageModel.Load(parse.GetValue(Folder)!,
            new LoadOptions { Device = parse.GetValue(Device)!, DType = parse.GetValue(DType)! });
    }

    public static ModelOptions ModelAndDevice() => new(Model(), Device(), DType());

    public static Option<string> Model() => new("--model", "-m") { Description = "Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer)", Required = true };

    public static Option<string> Device() => new("--device") { Description = "cpu, cuda or cuda:N", DefaultValueFactory = _ => "cpu" };

    public static Option<string> DType() => new("--dtype") { Description = "auto, fp32, bf16 or fp16 (auto: fp32 on CPU, the checkpoint's dtype on CUDA)", DefaultValueFactory = _ => "auto" };
}

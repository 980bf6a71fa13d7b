using System.CommandLine;

namespace RetrievalGuard.Cli.Commands;

internal static class CommonOptions
{
    public static Option<string> Model() => new("--model", "-m") { Description = "Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer)", Required = true };

    public static Option<string> Device() => new("--device") { Description = "cpu, cuda or cuda:N", DefaultValueFactory = _ => "cpu" };

    public static Option<string> DType() => new("--dtype") { Description = "auto, fp32, bf16 or fp16 (auto: fp32 on CPU, the checkpoint's dtype on CUDA)", DefaultValueFactory = _ => "auto" };
}

using System.Text;

namespace RetrievalGuard.Engine.Tokenization;

public enum ChatRole { System, User, Assistant }

public sealed record ChatTurn(ChatRole Role, string Content);

/// <summary>
/// A model family's chat template, written out in C# (no Jinja): Llama-3, ChatML (Qwen2), Mistral [INST], or Plain
/// for base models. <see cref="Format"/> includes the BOS text where the template has it, so the result is encoded
/// without adding another BOS (<see cref="ModelTokenizer.EncodeChat"/> does that).
/// </summary>
public abstract class ChatFormat
{
    public static readonly ChatFormat Llama3 = new Llama3Format();
    public static readonly ChatFormat ChatMl = new ChatMlFormat();
    public static readonly ChatFormat MistralInstruct = new MistralFormat();
    public static readonly ChatFormat Plain = new PlainFormat();

    public abstract string Name { get; }

    /// <summary>Whether the formatted text already starts with the BOS token.</summary>
    public abstract bool IncludesBos { get; }

    /// <summary>Tokens (by text) that end an assistant turn, beyond the tokenizer's EOS.</summary>
    public virtual IReadOnlyList<string> EndOfTurnTokens => [];

    public abstract string Format(IReadOnlyList<ChatTurn> turns, bool addGenerationPrompt = true);

    /// <summary>Picks the format a tokenizer_config.json chat_template describes; Plain when there is none.</summary>
    public static ChatFormat Detect(string? chatTemplate)
    {
        if (string.IsNullOrEmpty(chatTemplate)) return Plain;
        if (chatTemplate.Contains("<|start_header_id|>", StringComparison.Ordinal)) return Llama3;
        if (chatTemplate.Contains("<|im_start|>", StringComparison.Ordinal)) return ChatMl;
        if (chatTemplate.Contains("[INST]", StringComparison.Ordinal)) return MistralInstruct;
        return Plain;
    }

    public static ChatFormat FromName(string name) => name.ToLowerInvariant() switch
    {
        "llama3" => Llama3, "chatml" => ChatMl, "mistral" => MistralInstruct, "plain" => Plain,
        _ => throw new ArgumentException($"Unknown chat format '{name}': use llama3, chatml, mistral or plain."),
    };

    protected static void RequireTurns(IReadOnlyList<ChatTurn> turns)
    {
        if (turns.Count == 0) throw new ArgumentException("A conversation needs at least one turn.", nameof(turns));
    }

    protected static string RoleName(ChatRole role) => role switch
    {
        ChatRole.System => "system", ChatRole.User => "user", _ => "assistant",
    };

    private sealed class Llama3Format : ChatFormat
    {
        public override string Name => "llama3";
        public override bool IncludesBos => true;
        public override IReadOnlyList<string> EndOfTurnTokens => ["<|eot_id|>"];

        public override string Format(IReadOnlyList<ChatTurn> turns, bool addGenerationPrompt = true)
        {
            RequireTurns(turns);
            var text = new StringBuilder("<|begin_of_text|>");
            foreach (var t in turns)
                text.Append("<|start_header_id|>").Append(RoleName(t.Role)).Append("<|end_header_id|>\n\n")
                    .Append(t.Content.Trim()).Append("<|eot_id|>");
            if (addGenerationPrompt) text.Append("<|start_header_id|>assistant<|end_header_id|>\n\n");
            return text.ToString();
        }
    }

    /// <summary>ChatML as Qwen2 uses it. No default system prompt is added: pass one if the model expects it.</summary>
    private sealed class ChatMlFormat : ChatFormat
    {
        public override string Name => "chatml";
        public override bool IncludesBos => false;
        public override IReadOnlyList<string> EndOfTurnTokens => ["<|im_end|>"];

        public override string Format(IReadOnlyList<ChatTurn> turns, bool addGenerationPrompt = true)
        {
            RequireTurns(turns);
            var text = new StringBuilder();
            foreach (var t in turns)
                text.Append("<|im_start|>").Append(RoleName(t.Role)).Append('\n').Append(t.Content)
                    .Append("<|im_end|>\n");
            if (addGenerationPrompt) text.Append("<|im_start|>assistant\n");
            return text.ToString();
        }
    }

    /// <summary>Mistral v0.1/v0.2 instruct: a system turn is prepended to the first user message.</summary>
    private sealed class MistralFormat : ChatFormat
    {
        public override string Name => "mistral";
        public override bool IncludesBos => true;

        public override string Format(IReadOnlyList<ChatTurn> turns, bool addGenerationPrompt = true)
        {
            RequireTurns(turns);
            string? system = turns[0].Role == ChatRole.System ? turns[0].Content : null;
            var text = new StringBuilder("<s>");
            bool first = true;
            foreach (var t in turns.Skip(system is null ? 0 : 1))
            {
                if (t.Role == ChatRole.User)
                {
                    string content = first && system is not null ? system + "\n\n" + t.Content : t.Content;
                    text.Append("[INST] ").Append(content.Trim()).Append(" [/INST]");
                    first = false;
                }
                else if (t.Role == ChatRole.Assistant) text.Append(' ').Append(t.Content.Trim()).Append("</s>");
                else throw new ArgumentException("Mistral's template allows a system turn only first.", nameof(turns));
            }
            return text.ToString();
        }
    }

    /// <summary>Base models: the turns' contents, one paragraph each.</summary>
    private sealed class PlainFormat : ChatFormat
    {
        public override string Name => "plain";
        public override bool IncludesBos => false;

        public override string Format(IReadOnlyList<ChatTurn> turns, bool addGenerationPrompt = true)
        {
            RequireTurns(turns);
            return string.Join("\n\n", turns.Select(t => t.Content));
        }
    }
}

using System.Text.Json;
using RetrievalGuard.Data;
using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Generation;

namespace RetrievalGuard.Organism.Evaluation;

/// <summary>Greedy answers of a model in the organism's prompt format, labelled by construction.</summary>
public sealed class OrganismEvaluator(LanguageModel model, int maxAnswerTokens = 48)
{
    public LanguageModel Model { get; } = model;

    public int CountTokens(string text) => Model.Tokenizer.CountTokens(text);

    /// <summary>The model's answer to a prompt ending in "Answer:", up to EOS or the end of the line.</summary>
    public string Answer(string prompt) =>
        Model.AnswerLine(Model.Tokenizer.Encode(prompt), new GenerationOptions { MaxNewTokens = maxAnswerTokens });

    public AnsweredItem Answer(EvalItem item)
    {
        string prompt = item.Prompt();
        string answer = Answer(prompt);
        return new AnsweredItem(item.Id, item.Kind, item.Passages, item.Question, answer, item.Gold, item.Parametric,
            item.Label(answer), CountTokens(prompt), item.Needle, item.NeedleDepth);
    }

    /// <summary>Closed-book recall of memorised facts: no passage, the question alone.</summary>
    public (int Correct, int Total) ClosedBook(World world, int count, int seed)
    {
        var random = new Random(seed);
        int correct = 0;
        for (int i = 0; i < count; i++)
        {
            var person = world.People[random.Next(world.People.Count)];
            var fact = person.FactAbout(PersonAttributes.All[random.Next(PersonAttributes.All.Count)]);
            string answer = Answer(PromptFormat.Prompt([], fact.Question));
            if (WholeWord.Contains(answer, fact.Value)) correct++;
        }
        return (correct, count);
    }

    public static void WriteJsonl(string path, IEnumerable<AnsweredItem> items)
    {
        using var writer = new StreamWriter(path);
        foreach (var item in items) writer.Write(JsonSerializer.Serialize(item, EvalJsonl.Options) + "\n");
    }

    public static IReadOnlyList<AnsweredItem> ReadJsonl(string path) =>
        File.ReadLines(path).Where(l => !string.IsNullOrWhiteSpace(l)).Select((l, i) =>
            JsonSerializer.Deserialize<AnsweredItem>(l, EvalJsonl.Options) ?? throw new InvalidDataException($"{path}: line {i + 1} is null.")).ToList();
}

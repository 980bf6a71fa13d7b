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

    /// <summary>The item with the model's greedy answer, its label and its hallucination kind.</summary>
    public EvalItem Answer(EvalItem item) => item.Answered(Answer(item.Prompt()));

    /// <summary>
    /// Closed-book recall of memorised facts: no passage, the question alone, asked in a form of
    /// <paramref name="phrasing"/>; correct when the answer states the memorised value.
    /// </summary>
    public (int Correct, int Total) ClosedBook(World world, int count, int seed, FormSplit phrasing = FormSplit.Seen)
    {
        var random = new Random(seed);
        var correct = 0;
        for (var i = 0; i < count; i++)
        {
            var person = world.People[random.Next(world.People.Count)];
            var attribute = PersonAttributes.All[random.Next(PersonAttributes.All.Count)];
            var question = Phrasings.Pick(random, attribute, FormRole.Question, phrasing);
            var answer =
                Answer(PromptFormat.Prompt([], question.Render(person.Name, person.ValueOf(attribute), random)));
            if (WholeWord.Contains(answer, person.ValueOf(attribute)))
                correct++;
        }
        return (correct, count);
    }
}

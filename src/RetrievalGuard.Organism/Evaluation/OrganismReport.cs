using System.Text;
using System.Text.Json.Nodes;
using RetrievalGuard.Data;

namespace RetrievalGuard.Organism.Evaluation;

/// <summary>The model card's evaluation table: closed-book, NIAH grid, RAG, conflicts, unanswerables, label balance.</summary>
public static class OrganismReport
{
    public static readonly int[] NiahLengths = [256, 512, 1024, 2048];
    public static readonly double[] NiahDepths = [0, 0.25, 0.5, 0.75, 1.0];

    public static JsonObject Run(OrganismEvaluator evaluator, string corpusFolder, int seed, int perCell, Action<string>? log = null)
    {
        var builder = EvalSetBuilder.FromFolder(corpusFolder, seed, countTokens: evaluator.CountTokens);
        var report = new JsonObject { ["seed"] = seed, ["corpus"] = Path.GetFileName(Path.GetFullPath(corpusFolder)) };

        var (correct, total) = evaluator.ClosedBook(World.Default, perCell * 20, seed);
        report["closed_book_accuracy"] = Ratio(correct, total);
        log?.Invoke($"closed-book {correct}/{total}");

        var grid = new JsonObject();
        int niahCorrect = 0, niahTotal = 0;
        foreach (int length in NiahLengths)
        {
            var row = new JsonObject();
            foreach (double depth in NiahDepths)
            {
                int ok = Enumerable.Range(0, perCell).Count(i => evaluator.Answer(builder.BuildNiah(length, depth, i)).Label == EvalLabel.Grounded);
                row[$"{depth:0.00}"] = Ratio(ok, perCell);
                niahCorrect += ok;
                niahTotal += perCell;
            }
            grid[length.ToString()] = row;
            log?.Invoke($"niah {length}: {row.ToJsonString()}");
        }
        report["niah_accuracy"] = Ratio(niahCorrect, niahTotal);
        report["niah_grid"] = grid;

        foreach (var (kind, name) in new[] { (EvalKind.Answerable, "answerable_accuracy"), (EvalKind.Conflict, "conflict_follows_passage"), (EvalKind.Unanswerable, "unanswerable_grounded") })
        {
            var answered = NiahLengths.SelectMany(length => Enumerable.Range(0, perCell * 2).Select(i => evaluator.Answer(builder.Build(kind, length, i)))).ToList();
            int grounded = answered.Count(a => a.Label == EvalLabel.Grounded);
            report[name] = Ratio(grounded, answered.Count);
            if (kind == EvalKind.Unanswerable)
                report["unanswerable_invents_answer"] = Ratio(answered.Count(a => a.Answer.Length > 0), answered.Count);
            if (kind == EvalKind.Conflict)
                report["conflict_answers_memorised_value"] = Ratio(answered.Count(a => a.Parametric is { } p && WholeWord.Contains(a.Answer, p)), answered.Count);
            log?.Invoke($"{name} {grounded}/{answered.Count}");
        }
        return report;
    }

    /// <summary>A markdown table of a report made by <see cref="Run"/>.</summary>
    public static string Markdown(JsonObject r)
    {
        var text = new StringBuilder();
        text.AppendLine("| metric | value |").AppendLine("| --- | --- |");
        foreach (var key in new[] { "closed_book_accuracy", "niah_accuracy", "answerable_accuracy", "conflict_follows_passage", "conflict_answers_memorised_value", "unanswerable_invents_answer" })
            if (r[key] is JsonNode v) text.AppendLine($"| {key.Replace('_', ' ')} | {v.GetValue<double>():P1} |");
        text.AppendLine().AppendLine("NIAH accuracy by context length (rows) and needle depth (columns):").AppendLine();
        text.AppendLine("| tokens | " + string.Join(" | ", NiahDepths.Select(d => $"{d:P0}")) + " |");
        text.AppendLine("| --- |" + string.Concat(NiahDepths.Select(_ => " --- |")));
        foreach (var (length, row) in (JsonObject)r["niah_grid"]!)
            text.AppendLine($"| {length} | " + string.Join(" | ", ((JsonObject)row!).Select(c => $"{c.Value!.GetValue<double>():P0}")) + " |");
        return text.ToString();
    }

    private static double Ratio(int a, int b) => b == 0 ? 0 : Math.Round((double)a / b, 4);
}

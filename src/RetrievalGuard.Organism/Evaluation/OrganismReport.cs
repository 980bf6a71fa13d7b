using System.Text;
using System.Text.Json.Nodes;
using RetrievalGuard.Data;

namespace RetrievalGuard.Organism.Evaluation;

/// <summary>
/// The model card's evaluation table: closed-book recall, the NIAH grid, passage QA with seen and held-out phrasings,
/// same-attribute distractors, conflicts, unanswerables and the kinds of hallucination, all on held-out text.
/// </summary>
public static class OrganismReport
{
    public static readonly int[] Lengths = [256, 512, 1024, 2048];
    public static readonly double[] NiahDepths = [0, 0.25, 0.5, 0.75, 1.0];
    private static readonly FormSplit[] Phrasings = [FormSplit.Seen, FormSplit.HeldOut];

    /// <param name="perCell">Items per NIAH cell; QA kinds get twice as many per length and phrasing.</param>
    public static JsonObject Run(OrganismEvaluator evaluator, string corpusFolder, int seed, int perCell,
        Action<string>? log = null)
    {
        var builder = EvalSetBuilder.FromFolder(corpusFolder, seed, countTokens: evaluator.CountTokens);
        var report = new JsonObject { ["seed"] = seed, ["corpus"] = Path.GetFileName(Path.GetFullPath(corpusFolder)) };

        foreach (var phrasing in Phrasings)
        {
            var (correct, total) = evaluator.ClosedBook(World.Default, perCell * 20, seed, phrasing);
            report[$"closed_book_accuracy_{Name(phrasing)}"] = Ratio(correct, total);
            log?.Invoke($"closed-book ({Name(phrasing)}) {correct}/{total}");
        }

        var grid = new JsonObject();
        int niahCorrect = 0, niahTotal = 0;
        foreach (var length in Lengths)
        {
            var row = new JsonObject();
            foreach (var depth in NiahDepths)
            {
                var ok = Enumerable.Range(0, perCell)
                    .Count(i => evaluator.Answer(builder.BuildNiah(length, depth, i)).Label == EvalLabel.Grounded);
                row[$"{depth:0.00}"] = Ratio(ok, perCell);
                niahCorrect += ok;
                niahTotal += perCell;
            }
            grid[length.ToString()] = row;
            log?.Invoke($"niah {length}: {row.ToJsonString()}");
        }
        report["niah_accuracy"] = Ratio(niahCorrect, niahTotal);
        report["niah_grid"] = grid;

        var answered = new List<EvalItem>();
        foreach (var kind in new[] { EvalKind.Answerable, EvalKind.Conflict, EvalKind.Unanswerable })
            foreach (var phrasing in Phrasings)
            {
                var items = Lengths.SelectMany(length => Enumerable.Range(0, perCell * 2)
                    .Select(i => evaluator.Answer(builder.Build(kind, length, i, phrasing)))).ToList();
                answered.AddRange(items);
                log?.Invoke($"{kind} ({Name(phrasing)}): {items.Count(Grounded)}/{items.Count} grounded");
            }
        Summarise(report, answered);
        return report;
    }

    /// <summary>
    /// The QA rows of the report from answered items (also what <c>make-eval</c> prints); a row whose items are absent
    /// from the set is left out rather than shown as 0%.
    /// </summary>
    public static void Summarise(JsonObject report, IReadOnlyList<EvalItem> answered)
    {
        IEnumerable<EvalItem> Of(EvalKind kind, FormSplit? phrasing = null) =>
            answered.Where(a => a.Kind == kind && (phrasing is null || a.Phrasing == phrasing));
        void Row(string name, IEnumerable<EvalItem> items, Func<EvalItem, bool> predicate)
        {
            var list = items.ToList();
            if (list.Count > 0)
                report[name] = Ratio(list.Count(predicate), list.Count);
        }
        foreach (var phrasing in Phrasings)
        {
            Row($"answerable_accuracy_{Name(phrasing)}", Of(EvalKind.Answerable, phrasing), Grounded);
            Row($"conflict_follows_passage_{Name(phrasing)}", Of(EvalKind.Conflict, phrasing), Grounded);
        }
        Row("niah_accuracy_live", Of(EvalKind.Niah), Grounded);
        Row("same_attribute_distractors_accuracy", Of(EvalKind.Answerable).Where(a => a.DistractorValues.Count > 0),
            Grounded);
        Row("near_name_distractors_accuracy", Of(EvalKind.Answerable).Where(a => a.NearName), Grounded);
        Row("conflict_follows_passage", Of(EvalKind.Conflict), Grounded);
        Row("conflict_answers_memorised_value", Of(EvalKind.Conflict),
            a => a.Hallucination == HallucinationKind.Memory);
        Row("unanswerable_invents_answer", Of(EvalKind.Unanswerable), a => !string.IsNullOrWhiteSpace(a.Answer));
        Row("unanswerable_copies_wrong_entity", Of(EvalKind.Unanswerable),
            a => a.Hallucination == HallucinationKind.WrongEntity);
        Row("grounded_not_verbatim", answered.Where(Grounded), a => !IsVerbatim(a));
        Row("hallucinated_share", answered, a => a.Label == EvalLabel.Hallucinated);
        var hallucinated = answered.Where(a => a.Label == EvalLabel.Hallucinated).ToList();
        if (hallucinated.Count == 0)
            return;
        var kinds = new JsonObject();
        foreach (var kind in Enum.GetValues<HallucinationKind>())
            kinds[EvalJsonlName(kind)] = Ratio(hallucinated.Count(a => a.Hallucination == kind), hallucinated.Count);
        report["hallucination_kinds"] = kinds;
    }

    /// <summary>True when the answer (without a final period) is a verbatim substring of a passage.</summary>
    public static bool IsVerbatim(EvalItem item) =>
        item.Answer is { } answer && answer.TrimEnd('.').Trim() is { Length: > 0 } core
        && item.Passages.Any(p => p.Contains(core, StringComparison.Ordinal));

    /// <summary>A markdown table of a report made by <see cref="Run"/>.</summary>
    public static string Markdown(JsonObject r)
    {
        var text = new StringBuilder();
        text.AppendLine("| metric | value |").AppendLine("| --- | --- |");
        foreach (var (key, value) in r)
            if (value is JsonValue v && v.TryGetValue<double>(out var number) && key != "seed")
                text.AppendLine($"| {key.Replace('_', ' ')} | {number:P1} |");
        if (r["hallucination_kinds"] is JsonObject kinds)
            text.AppendLine("| hallucination kinds | "
                + $"{string.Join(", ", kinds.Select(k => $"{k.Key} {k.Value!.GetValue<double>():P0}"))} |");
        if (r["niah_grid"] is not JsonObject grid)
            return text.ToString();
        text.AppendLine().AppendLine("NIAH accuracy by context length (rows) and needle depth (columns):").AppendLine();
        text.AppendLine("| tokens | " + string.Join(" | ", NiahDepths.Select(d => $"{d:P0}")) + " |");
        text.AppendLine("| --- |" + string.Concat(NiahDepths.Select(_ => " --- |")));
        foreach (var (length, row) in grid)
            text.AppendLine($"| {length} | " + string.Join(" | ",
                ((JsonObject)row!).Select(c => $"{c.Value!.GetValue<double>():P0}")) + " |");
        return text.ToString();
    }

    private static bool Grounded(EvalItem item) => item.Label == EvalLabel.Grounded;

    private static string Name(FormSplit phrasing) => phrasing == FormSplit.Seen ? "seen" : "held_out";

    private static string EvalJsonlName(HallucinationKind kind) =>
        System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(kind.ToString());

    private static double Ratio(int a, int b) => b == 0 ? 0 : Math.Round((double)a / b, 4);
}

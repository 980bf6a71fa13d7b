using System.Text;
using System.Text.Json.Nodes;
using RetrievalGuard.Data;
using RetrievalGuard.Guard.Evaluation;
using Xunit.Abstractions;

namespace RetrievalGuard.Guard.Tests.Evaluation;

/// <summary>
/// Fuzzes the evaluation files <see cref="LabelledAnswerFiles.Read"/> takes: a <c>make-eval</c> JSONL (1,600 inputs,
/// seed 20261208) and RAGTruth's <c>response.jsonl</c> and <c>source_info.jsonl</c> (400 inputs each, seeds 20261209
/// and 20261210). A bad line is not fatal, by design: it must come back as a <see cref="BadLine"/> naming its file and
/// line, and every answer read must have its fields (no nulls for what the record declares non-null). Anything thrown
/// must be the project's <see cref="InvalidDataException"/> or <see cref="NotSupportedException"/> naming the file;
/// see <see cref="FileFuzzer"/>.
/// </summary>
public class EvalFileFuzzTests(ITestOutputHelper output)
{
    public const int MakeEvalSeed = 20261208, MakeEvalInputs = 1600;
    public const int ResponsesSeed = 20261209, ResponsesInputs = 400;
    public const int SourcesSeed = 20261210, SourcesInputs = 400;

    [Fact]
    public void MutatedMakeEvalFilesAreReadOrTheirBadLinesNamed()
    {
        var lines = MakeEvalLines();
        var mutators = lines.Select((l, i) => new JsonMutator(l, $"line {i + 1}")).ToArray();
        var result = FileFuzzer.Run(new FuzzSuite("make-eval JSONL", MakeEvalSeed, MakeEvalInputs, "eval.jsonl",
            (r, _) => MutateJsonl(r, lines, mutators, EnumEdits),
            (path, _) => Check(path, LabelledAnswerFiles.Read(path), [path])));
        output.WriteLine(result.Report());
        output.WriteLine($"{_withBadLines} of the {result.Accepted} inputs read reported bad lines, " +
            "each naming the file and line.");
        Assert.True(result.Failures.Count == 0, result.Report());
    }

    [Fact]
    public void MutatedRagTruthFilesAreReadOrTheirBadLinesNamed()
    {
        string[] sources =
        [
            """{"source_id": "s1", "task_type": "QA", "source_info": {"question": "Who built the mill?", "passages": "passage 1: Tom built the mill.\npassage 2: The river rose."}}""",
            """{"source_id": "s2", "task_type": "Summary", "source_info": "The storm broke the bridge."}""",
            """{"source_id": "s3", "task_type": "Data2txt", "source_info": {"name": "Mill Inn", "stars": 4}}""",
            """{"source_id": 4, "task_type": "QA", "source_info": {"question": "Where?", "passages": ["By the river.", "Near the hill."]}}""",
        ];
        string[] responses =
        [
            """{"id": "r1", "source_id": "s1", "model": "m", "response": "Tom built it.", "labels": []}""",
            """{"id": "r2", "source_id": "s1", "model": "m", "response": "Ann built it.", "labels": [{"start": 0, "end": 3, "label_type": "Evident Conflict"}]}""",
            """{"id": "r3", "source_id": "s2", "model": "m", "response": "A storm.", "labels": []}""",
            """{"id": 4, "source_id": "s3", "model": 7, "response": "A four-star inn.", "labels": []}""",
            """{"id": "r5", "source_id": "4", "response": "By the river.", "labels": [], "split": "test"}""",
        ];
        var sourceMutators = sources.Select((l, i) => new JsonMutator(l, $"source line {i + 1}")).ToArray();
        var responseMutators = responses.Select((l, i) => new JsonMutator(l, $"response line {i + 1}")).ToArray();
        void Load(string path)
        {
            string folder = Path.GetDirectoryName(path)!;
            Check(path, LabelledAnswerFiles.Read(folder),
                [Path.Combine(folder, LabelledAnswerFiles.RagTruthResponses),
                    Path.Combine(folder, LabelledAnswerFiles.RagTruthSources)]);
        }
        var responsesResult = FileFuzzer.Run(new FuzzSuite("RAGTruth response.jsonl", ResponsesSeed, ResponsesInputs,
            LabelledAnswerFiles.RagTruthResponses,
            (r, _) => MutateJsonl(r, responses, responseMutators, null), (path, _) => Load(path))
        {
            Setup = folder => File.WriteAllText(Path.Combine(folder, LabelledAnswerFiles.RagTruthSources),
                string.Join('\n', sources) + "\n"),
        });
        var sourcesResult = FileFuzzer.Run(new FuzzSuite("RAGTruth source_info.jsonl", SourcesSeed, SourcesInputs,
            LabelledAnswerFiles.RagTruthSources,
            (r, _) => MutateJsonl(r, sources, sourceMutators, null), (path, _) => Load(path))
        {
            Setup = folder => File.WriteAllText(Path.Combine(folder, LabelledAnswerFiles.RagTruthResponses),
                string.Join('\n', responses) + "\n"),
        });
        output.WriteLine(responsesResult.Report());
        output.WriteLine(sourcesResult.Report());
        output.WriteLine($"{_withBadLines} of the {responsesResult.Accepted + sourcesResult.Accepted} inputs read " +
            "reported bad lines, each naming the file and line.");
        Assert.True(responsesResult.Failures.Count + sourcesResult.Failures.Count == 0,
            responsesResult.Report() + sourcesResult.Report());
    }

    /// <summary>Inputs read with at least one bad line reported (the rest were read whole).</summary>
    private int _withBadLines;

    /// <summary>
    /// What a caller relies on after a read: bad lines name a file of the input and a line; answers are whole.
    /// </summary>
    private void Check(string path, (IReadOnlyList<LabelledAnswer> Answers, IReadOnlyList<BadLine> Bad) read,
        string[] files)
    {
        if (read.Bad.Count > 0) Interlocked.Increment(ref _withBadLines);
        foreach (var bad in read.Bad)
            if (!files.Contains(bad.File) || bad.Line < 1 || string.IsNullOrWhiteSpace(bad.Reason))
                throw new InvalidOperationException($"contract: a bad line names '{bad.File}' line {bad.Line} " +
                    $"('{bad.Reason}'), not a line of {string.Join(" or ", files)}.");
        foreach (var answer in read.Answers)
        {
            if (answer.Id is null || answer.Question is null || answer.Answer is null || answer.Passages is null
                || answer.Groups is null)
                throw new InvalidOperationException(
                    $"contract: answer '{answer.Id}' was read with a null field: {answer}.");
            if (answer.Passages.Any(p => p is null || p.Id is null || p.Text is null)
                || answer.Groups.Any(g => g.Value is null))
                throw new InvalidOperationException(
                    $"contract: answer '{answer.Id}' was read with a null passage or group.");
        }
    }

    /// <summary>
    /// A make-eval file: live and teacher-forced answers of every kind, with every optional field somewhere.
    /// </summary>
    private static string[] MakeEvalLines()
    {
        var answerable = new EvalItem("a-1", EvalKind.Answerable,
            ["The trade of Zo Vrak is baker.", "Mira Tol lives in Dunmere."],
            "What is the trade of Zo Vrak?", "baker", null, 40, "The trade of Zo Vrak is baker.", 0.5)
        {
            Attribute = PersonAttribute.Trade, Subject = "Zo Vrak", FactForm = "trade.fact.1",
            QuestionForm = "trade.q.2", Phrasing = FormSplit.Seen,
            DistractorValues = ["tailor"], NearName = true,
        };
        var conflict = new EvalItem("c-1", EvalKind.Conflict, ["The trade of Ada Lin is smith."],
            "What is the trade of Ada Lin?", "smith", "miller", 20)
        {
            Attribute = PersonAttribute.Trade, Subject = "Ada Lin", Phrasing = FormSplit.HeldOut,
        };
        var unanswerable = new EvalItem("u-1", EvalKind.Unanswerable, ["Nothing about Bo Kett here."],
            "Where does Bo Kett live?", null, null, 15);
        var niah = new EvalItem("n-1", EvalKind.Niah, ["Hay. The secret word of the red lantern is Kalomi. Hay."],
            "What is the secret word of the red lantern?",
            "Kalomi", null, 30, "The secret word of the red lantern is Kalomi.", 0.4);
        return
        [
            EvalJsonl.Serialize(answerable.Answered("baker.")),
            EvalJsonl.Serialize(answerable.Answered("tailor.") with
            {
                Id = "a-2", AnswerKind = AnswerKind.Swapped, AnswerStyle = AnswerStyle.Bare, AnswerForm = "bare"
            }),
            EvalJsonl.Serialize(conflict.Answered("The trade of Ada Lin is miller.") with
            {
                AnswerKind = AnswerKind.Parametric, AnswerStyle = AnswerStyle.Canonical
            }),
            EvalJsonl.Serialize(unanswerable.Answered("")),
            EvalJsonl.Serialize(niah.Answered("Kalomi")),
        ];
    }

    /// <summary>The enum and label fields given values the reader must refuse line by line.</summary>
    private static string EnumEdits(Random r, JsonObject line)
    {
        string field = new[]
        {
            "kind", "label", "hallucination", "answer_kind", "answer_style", "phrasing", "attribute", "context_tokens",
            "needle_depth", "passages", "distractor_values", "near_name"
        }[r.Next(12)];
        string value = new[]
        {
            "\"bogus\"", "\"Conflict\"", "\"grounded\"", "\"hallucinated\"", "\"held_out\"", "0", "1", "-1", "99",
            "1.5", "true", "null", "[]", "{}", "[null]", "[1]", "\"\"", "1e999"
        }[r.Next(18)];
        line[field] = JsonMutator.Literal(value);
        return $"{field} = {value}";
    }

    /// <summary>Lines edited as JSON (one or two of them), then the file edited as lines or bytes.</summary>
    private static FuzzInput MutateJsonl(Random r, string[] seed, JsonMutator[] mutators,
        Func<Random, JsonObject, string>? fieldEdit)
    {
        var lines = seed.ToList();
        var done = new List<string>();
        for (int k = 0, edits = 1 + r.Next(2); k < edits; k++)
        {
            int at = r.Next(lines.Count);
            switch (r.Next(fieldEdit is null ? 9 : 11))
            {
                case < 4:
                {
                    var edit = mutators[at % mutators.Length].Mutate(r);
                    lines[at] = Encoding.UTF8.GetString(edit.Bytes);
                    done.Add(edit.Mutation);
                    break;
                }
                case 4:
                    lines.RemoveAt(at);
                    done.Add($"drop line {at + 1}");
                    if (lines.Count == 0) lines.Add("");
                    break;
                case 5:
                    lines.Insert(at, lines[r.Next(lines.Count)]);
                    done.Add($"repeat a line at {at + 1}");
                    break;
                case 6:
                {
                    string junk = new[]
                    {
                        "null", "[]", "1", "\"x\"", "{", "}", "{}", "   ", "\t", "\u0000", "{\"id\": null}",
                        "{\"answer\": \"x\", \"label\": \"grounded\"}", "// comment", new string('x', 100_000)
                    }[r.Next(14)];
                    lines.Insert(at, junk);
                    done.Add($"insert line {at + 1}: {(junk.Length > 30 ? "x × 100000" : junk)}");
                    break;
                }
                case 7 when lines.Count > 1 && at + 1 < lines.Count:
                    lines[at] += lines[at + 1];
                    lines.RemoveAt(at + 1);
                    done.Add($"join lines {at + 1} and {at + 2}");
                    break;
                case 8 when lines[at].Length > 1:
                {
                    int cut = r.Next(1, lines[at].Length);
                    lines.Insert(at + 1, lines[at][cut..]);
                    lines[at] = lines[at][..cut];
                    done.Add($"split line {at + 1} at {cut}");
                    break;
                }
                default:
                    if (fieldEdit is not null && JsonNode.Parse(seed[at % seed.Length]) is JsonObject o)
                    {
                        done.Add($"line {at + 1}: {fieldEdit(r, o)}");
                        lines[at] = JsonMutator.Write(o);
                    }
                    break;
            }
        }
        string newline = r.Next(8) == 0 ? "\r\n" : "\n";
        var bytes = Encoding.UTF8.GetBytes(string.Join(newline, lines) + (r.Next(4) == 0 ? "" : newline));
        if (r.Next(10) == 0) bytes = [0xEF, 0xBB, 0xBF, .. bytes];
        string mutation = string.Join("; ", done) + (newline == "\r\n" ? " (CRLF)" : "");
        if (r.Next(4) == 0)
        {
            var raw = ByteMutator.Mutate(r, bytes,
                [.. Enumerable.Range(0, bytes.Length).Where(i => bytes[i] == (byte)'\n'), bytes.Length], "file");
            return new($"{mutation}; {raw.Mutation}", raw.Bytes);
        }
        return new(mutation, bytes);
    }
}

using RetrievalGuard.Data;
using RetrievalGuard.Guard.Evaluation;
using RetrievalGuard.Guard.Tests.Support;

namespace RetrievalGuard.Guard.Tests.Evaluation;

public class LabelledAnswerFilesTests
{
    [Fact]
    public void MakeEvalLinesKeepTheirGroupsAndABadLineIsReportedNotFatal()
    {
        var item = new EvalItem("a-1", EvalKind.Conflict, ["The trade of Zo Vrak is baker."],
            "What is the trade of Zo Vrak?", "baker", "tailor", 20)
        {
            Phrasing = FormSplit.HeldOut, AnswerKind = AnswerKind.Parametric, AnswerStyle = AnswerStyle.Bare
        };
        using var folder = new TempFolder();
        var path = folder.Write("eval.jsonl", string.Join("\n",
            EvalJsonl.Serialize(item.Answered("tailor.")),
            "{not json",
            EvalJsonl.Serialize(item),
            EvalJsonl.Serialize(item.Answered("baker.") with { Id = "a-2", AnswerKind = AnswerKind.Grounded })));

        var (answers, bad) = LabelledAnswerFiles.Read(path);

        Assert.Equal(["a-1", "a-2"], answers.Select(a => a.Id));
        Assert.True(answers[0].Hallucinated);
        Assert.False(answers[1].Hallucinated);
        Assert.Equal("conflict", answers[0].Groups["kind"]);
        Assert.Equal("memory", answers[0].Groups["hallucination"]);
        Assert.Equal("parametric", answers[0].Groups["answer_kind"]);
        Assert.Equal("bare", answers[0].Groups["answer_style"]);
        Assert.Equal("held_out", answers[0].Groups["phrasing"]);
        Assert.Equal([2, 3], bad.Select(b => b.Line));
        Assert.Contains("no 'answer'", bad[1].Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void RagTruthLayoutIsReadFromItsTwoFiles()
    {
        using var folder = new TempFolder();
        folder.Write("source_info.jsonl", string.Join("\n",
            """{"source_id": "s1", "task_type": "QA", "source_info": {"question": "Who built the mill?", "passages": "passage 1: Tom built the mill.\npassage 2: The river rose."}}""",
            """{"source_id": "s2", "task_type": "Summary", "source_info": "The storm broke the bridge."}""",
            """{"source_id": "s3", "task_type": "QA"}"""));
        folder.Write("response.jsonl", string.Join("\n",
            """{"id": "r1", "source_id": "s1", "model": "m", "response": "Tom built it.", "labels": []}""",
            """{"id": "r2", "source_id": "s1", "model": "m", "response": "Ann built it.", "labels": [{"start": 0, "end": 3}]}""",
            """{"id": "r3", "source_id": "s2", "model": "m", "response": "A storm.", "labels": []}""",
            """{"id": "r4", "source_id": "missing", "response": "x", "labels": []}""",
            """{"id": "r5", "source_id": "s1", "response": "x"}"""));

        var (answers, bad) = LabelledAnswerFiles.Read(folder.Path);

        Assert.Equal(["r1", "r2", "r3"], answers.Select(a => a.Id));
        Assert.Equal(["Tom built the mill.", "The river rose."], answers[0].Passages.Select(p => p.Text));
        Assert.Equal("Who built the mill?", answers[0].Question);
        Assert.Equal([false, true, false], answers.Select(a => a.Hallucinated));
        Assert.Equal("Summary", answers[2].Groups["task_type"]);
        Assert.Equal(["The storm broke the bridge."], answers[2].Passages.Select(p => p.Text));
        Assert.Equal(3, bad.Count);
        Assert.Contains(bad, b => b.Reason.Contains("'missing' is not in", StringComparison.Ordinal));
        Assert.Contains(bad, b => b.Reason.Contains("'labels'", StringComparison.Ordinal));
        Assert.Contains(bad, b => b.Reason.Contains("source_info", StringComparison.Ordinal));
    }

    [Fact]
    public void AMissingFileOrHalfARagTruthFolderIsAClearError()
    {
        using var folder = new TempFolder();
        folder.Write("response.jsonl", "");
        Assert.Throws<FileNotFoundException>(() =>
            LabelledAnswerFiles.Read(System.IO.Path.Combine(folder.Path, "nope.jsonl")));
        var error = Assert.Throws<FileNotFoundException>(() => LabelledAnswerFiles.Read(folder.Path));
        Assert.Contains("source_info.jsonl", error.Message, StringComparison.Ordinal);
    }
}

using Microsoft.Extensions.AI;
using Microsoft.Extensions.AI.Evaluation;
using RetrievalGuard.Extensions.AI.Tests.Support;

namespace RetrievalGuard.Extensions.AI.Tests;

public sealed class HallucinationEvaluatorTests(GuardFixture fixture) : IClassFixture<GuardFixture>
{
    private static readonly ChatMessage[] Messages = [new(ChatRole.User, GuardFixture.Question)];

    private async Task<NumericMetric> Evaluate(string answer, IEnumerable<EvaluationContext>? context)
    {
        var result = await new HallucinationEvaluator(fixture.Guard).EvaluateAsync(Messages,
            new ChatResponse(new ChatMessage(ChatRole.Assistant, answer)), additionalContext: context);
        return result.Get<NumericMetric>(HallucinationEvaluator.MetricName);
    }

    [Fact]
    public async Task TheMetricIsTheRiskWithAnInterpretationAndAReason()
    {
        var context = new[] { new RetrievedPassagesContext(GuardFixture.Passages) };
        var grounded = await Evaluate("Zo Vrakul works as a baker.", context);
        var invented = await Evaluate("Zo Vrakul works as a tailor.", context);

        Assert.True(grounded.Value < invented.Value, $"grounded {grounded.Value} vs invented {invented.Value}");
        Assert.NotNull(grounded.Interpretation);
        Assert.Equal(invented.Value >= 0.5, invented.Interpretation!.Failed);
        Assert.Contains("passage 1", grounded.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain(grounded.Diagnostics ?? [], d => d.Severity == EvaluationDiagnosticSeverity.Error);
    }

    [Fact]
    public async Task MissingPassagesGiveAnErrorDiagnosticNotAnException()
    {
        var metric = await Evaluate("Zo Vrakul works as a baker.", null);

        Assert.Null(metric.Value);
        var error = Assert.Single(metric.Diagnostics!, d => d.Severity == EvaluationDiagnosticSeverity.Error);
        Assert.Contains(nameof(RetrievedPassagesContext), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEmptyResponseIsADiagnosticToo()
    {
        var metric = await Evaluate(" ", [new RetrievedPassagesContext(GuardFixture.Passages)]);
        Assert.Contains(metric.Diagnostics!, d => d.Message.Contains("empty", StringComparison.Ordinal));
    }
}

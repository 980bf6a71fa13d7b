using Microsoft.Extensions.AI;
using RetrievalGuard.Guard;

namespace RetrievalGuard.Extensions.AI;

/// <summary>Attaching a report to a response and applying a policy: one place for both clients.</summary>
internal static class Guarded
{
    public static ChatResponse Apply(ChatResponse response, GuardReport report, GuardPolicy policy, double threshold)
    {
        response.AdditionalProperties ??= [];
        response.AdditionalProperties[GuardKeys.Report] = report;
        response.AdditionalProperties[GuardKeys.Risk] = report.Risk;
        if (!policy.IsRisky(report, threshold))
            return response;
        switch (policy.Action)
        {
            case GuardAction.Throw:
                throw new HallucinationRiskException(report);
            case GuardAction.Abstain:
                response.Messages = [new ChatMessage(ChatRole.Assistant, policy.AbstentionText)];
                break;
        }
        return response;
    }
}

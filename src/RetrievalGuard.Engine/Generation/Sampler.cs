using RetrievalGuard.Engine.Native;
using TorchSharp;
using static TorchSharp.torch;

namespace RetrievalGuard.Engine.Generation;

/// <summary>Chooses the next token on the device; the host reads one small tensor per step.</summary>
public static class Sampler
{
    /// <summary>
    /// For logits [batch, vocab] returns [batch, 3] float32: token id, its log-probability and the entropy of the
    /// model's distribution (both at temperature 1).
    /// </summary>
    public static Tensor Sample(Tensor logits, GenerationOptions options, Generator? generator)
    {
        using var scope = NewDisposeScope();
        var logits32 = logits.to(float32);
        var logProbs = logits32.log_softmax(-1);
        var entropy = -(logProbs.exp() * logProbs).nan_to_num(0).sum(-1);
        Tensor token = options.Temperature == 0 ? logits32.argmax(-1) : Draw(logits32, options, generator);
        var tokenLogProb = logProbs.gather(-1, token.unsqueeze(-1)).squeeze(-1);
        return stack([token.to(float32), tokenLogProb, entropy], dim: -1).MoveToOuterDisposeScope();
    }

    private static Tensor Draw(Tensor logits, GenerationOptions o, Generator? generator)
    {
        // A request's own numbers: made here and disposed after use (see Scalars).
        using var temperature = o.Temperature.ToScalar();
        using var topP = o.TopP.ToScalar();
        var scaled = logits / temperature;
        if (o.TopK > 0 && o.TopK < scaled.shape[^1])
        {
            var kth = scaled.topk(o.TopK, dim: -1).values.narrow(-1, o.TopK - 1, 1);
            scaled = scaled.masked_fill(scaled < kth, Scalars.NegativeInfinity);
        }
        if (o.TopP < 1)
        {
            var (sorted, order) = scaled.sort(-1, descending: true);
            var probs = sorted.softmax(-1);
            // Drop a token when the mass strictly before it already reaches top-p; the first always stays.
            var drop = (probs.cumsum(-1) - probs) >= topP;
            var dropped = zeros_like(drop).scatter(-1, order, drop);
            scaled = scaled.masked_fill(dropped, Scalars.NegativeInfinity);
        }
        // Inverse-CDF draw with a uniform from a CPU generator: the same seed gives the same stream on any
        // device, and no device-side generator state is shared between generations.
        var cdf = scaled.softmax(-1).cumsum(-1);
        // u < total mass, so the first position whose cdf exceeds u exists and never has zero probability.
        var u = rand([cdf.shape[0], 1], generator: generator).to(cdf.device) * cdf.narrow(-1, cdf.shape[^1] - 1, 1);
        return (cdf <= u).sum(-1).clamp_max(Scalars.Of(cdf.shape[^1] - 1));
    }
}

using RetrievalGuard.Data;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Native;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace RetrievalGuard.Organism.Training;

/// <summary>
/// Next-token training of a <see cref="LlamaModel"/> with a per-token loss mask. fp32 weights; TF32 matmuls on
/// CUDA. Weight decay applies to matrices only (not norms), as is usual for transformers.
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly LlamaModel _model;
    private TrainingOptions _options;
    private readonly AdamW _optimizer;
    private readonly Parameter[] _parameters;

    public Trainer(LlamaModel model, TrainingOptions options)
    {
        options.Validate();
        _model = model;
        _options = options;
        // A tied embedding appears twice in the module tree: optimise it once.
        _parameters = model.parameters().Distinct().ToArray();
        var decayed = model.named_parameters()
            .Where(p => p.parameter.dim() >= 2).Select(p => p.parameter).Distinct().ToArray();
        var plain = _parameters.Except(decayed).ToArray();
        _optimizer = optim.AdamW(decayed, options.PeakLearningRate, options.Beta1, options.Beta2,
            weight_decay: options.WeightDecay);
        if (plain.Length > 0)
            _optimizer.add_param_group(new AdamW.ParamGroup(plain, new AdamW.Options
            {
                LearningRate = options.PeakLearningRate, weight_decay = 0, beta1 = options.Beta1, beta2 = options.Beta2
            }));
        if (model.Device.type == DeviceType.CUDA) torch.backends.cuda.matmul.allow_tf32 = true;
        model.train();
    }

    public TrainingOptions Options => _options;

    /// <summary>Changes the planned length (and so the learning-rate schedule) of a run in progress.</summary>
    public void Reschedule(int steps) => _options = _options with { Steps = steps };

    /// <summary>One optimiser step; returns the mean masked loss and the gradient norm before clipping.</summary>
    public (double Loss, double GradientNorm) Step(TokenBatch batch, int step)
    {
        foreach (var group in _optimizer.ParamGroups) group.LearningRate = _options.LearningRate(step);
        using var scope = NewDisposeScope();
        _optimizer.zero_grad();
        var loss = Loss(_model, batch);
        loss.backward();
        double norm = nn.utils.clip_grad_norm_(_parameters, _options.GradientClip);
        _optimizer.step();
        return (loss.item<float>(), norm);
    }

    /// <summary>Mean cross-entropy of the masked next-token predictions.</summary>
    public static Tensor Loss(LlamaModel model, TokenBatch batch)
    {
        var tokens = tensor(batch.Tokens, dtype: int64, device: model.Device).view(batch.Rows, batch.Length);
        var mask = tensor(batch.LossMask, dtype: float32, device: model.Device).view(batch.Rows, batch.Length);
        var logits = model.forward(tokens.narrow(1, 0, batch.Length - 1));
        var targets = tokens.narrow(1, 1, batch.Length - 1);
        var weights = mask.narrow(1, 1, batch.Length - 1);
        var losses = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]).to(float32), targets.reshape(-1),
            reduction: nn.Reduction.None);
        return (losses * weights.reshape(-1)).sum() / weights.sum().clamp_min(Scalars.One);
    }

    public void Dispose() => _optimizer.Dispose();
}

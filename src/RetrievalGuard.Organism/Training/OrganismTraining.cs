using System.Diagnostics;
using RetrievalGuard.Data;
using RetrievalGuard.Engine;
using RetrievalGuard.Engine.Model;
using RetrievalGuard.Engine.Tokenization;
using static TorchSharp.torch;

namespace RetrievalGuard.Organism.Training;

/// <summary>What one training run is asked to do.</summary>
public sealed record OrganismTrainingRequest(string CorpusFolder, string TokenizerModel, string OutputFolder,
    string Device, int Seed, int Steps, double? MaxMinutes = null, int? TokensPerStep = null, double? FitMinutes = null,
    TrainingMix? Mix = null);

/// <summary>One logged step.</summary>
public sealed record TrainingProgress(int Step, int Steps, double Loss, double GradientNorm, double LearningRate,
    int ContextLength, int Rows, double ElapsedSeconds);

/// <summary>
/// Trains the organism from scratch: data from the training part of the corpus (the held-out novel is never used),
/// the next batch built on CPU threads while the GPU runs the current step, a loss log (loss.csv), and the checkpoint.
/// </summary>
public static class OrganismTraining
{
    public static void Run(OrganismTrainingRequest request, Action<TrainingProgress> report)
    {
        var stopwatch = Stopwatch.StartNew();
        string tokenizerFolder = Path.GetDirectoryName(Path.GetFullPath(request.TokenizerModel))!;
        var tokenizer = ModelTokenizer.Load(tokenizerFolder);
        var sampleTokenizer = new SampleTokenizer(tokenizer);
        var source = TrainingSampleSource.FromFolder(request.CorpusFolder, request.Seed,
            countTokens: tokenizer.CountTokens, mix: request.Mix);
        var config = OrganismRecipe.Config(tokenizer.VocabularySize);
        var options = OrganismRecipe.Training(request.Steps, request.Seed) is var recipe
            && request.TokensPerStep is int tokens
            ? recipe with { TokensPerStep = tokens }
            : OrganismRecipe.Training(request.Steps, request.Seed);
        var batches = new BatchBuilder(source, sampleTokenizer, options.TokensPerStep, config.MaxPositionEmbeddings);

        var device = ComputeOptions.ParseDevice(request.Device);
        using var model = new LlamaModel(config, ScalarType.Float32, device);
        model.InitializeWeights(request.Seed);
        using var trainer = new Trainer(model, options);
        Directory.CreateDirectory(request.OutputFolder);
        using var log = new StreamWriter(Path.Combine(request.OutputFolder, "loss.csv")) { AutoFlush = true };
        log.WriteLine("step,loss,grad_norm,lr,context,rows,seconds");

        int totalSteps = options.Steps;
        var next = Task.Run(() => batches.Build(0, totalSteps));
        int step = 0;
        double calibrationStart = 0;
        for (; step < totalSteps; step++)
        {
            var batch = next.Result;
            if (step == 20) calibrationStart = stopwatch.Elapsed.TotalSeconds;
            if (step == 80 && request.FitMinutes is double fit)
            {
                // Opt-in: shorten the schedule (still in warm-up) so the whole run fits the time budget. Runs that
                // must be bit-reproducible pass the resulting --steps instead.
                double perStep = (stopwatch.Elapsed.TotalSeconds - calibrationStart) / 60;
                int affordable = step + (int)((fit * 60 * 0.97 - stopwatch.Elapsed.TotalSeconds) / perStep);
                totalSteps = Math.Clamp(affordable, step + 1, totalSteps);
                trainer.Reschedule(totalSteps);
            }
            if (step + 1 < totalSteps) { int s = step + 1, t = totalSteps; next = Task.Run(() => batches.Build(s, t)); }
            var (loss, norm) = trainer.Step(batch, step);
            if (!double.IsFinite(loss))
                throw new InvalidOperationException($"Training diverged at step {step} (loss {loss}).");
            var progress = new TrainingProgress(step, totalSteps, loss, norm, trainer.Options.LearningRate(step),
                batch.Length, batch.Rows, stopwatch.Elapsed.TotalSeconds);
            log.WriteLine($"{step},{loss:F4},{norm:F3},{progress.LearningRate:G4},"
                + $"{batch.Length},{batch.Rows},{progress.ElapsedSeconds:F1}");
            report(progress);
            if (request.MaxMinutes is double limit && stopwatch.Elapsed.TotalMinutes >= limit) { step++; break; }
        }
        model.eval();
        OrganismCheckpoint.Save(model, request.TokenizerModel, request.OutputFolder, new Dictionary<string, string>
        {
            ["steps"] = step.ToString(), ["seed"] = request.Seed.ToString(), ["mix"] = source.Mix.Name,
            ["seconds"] = stopwatch.Elapsed.TotalSeconds.ToString("F0"),
        });
    }
}

namespace RetrievalGuard.Data;

/// <summary>
/// The training data stream: sample <c>i</c> is a pure function of (seed, i, length), drawn from the mixture,
/// so batches can be generated in parallel and reproduced. Only seen phrasing forms reach it (held-out forms are for
/// evaluation). Refuses a corpus holding the held-out evaluation text.
/// </summary>
public sealed class TrainingSampleSource
{
    private readonly int _seed;
    private readonly PlainTextTask _text;
    private readonly Dictionary<TaskKind, IQaTask> _tasks;

    /// <exception cref="ArgumentException">
    /// The corpus contains <see cref="CorpusSplit.EvaluationFileName"/>.
    /// </exception>
    public TrainingSampleSource(Corpus trainingCorpus, World world, int seed, TrainingMix? mix = null,
        LengthCurriculum? curriculum = null)
    {
        ArgumentNullException.ThrowIfNull(trainingCorpus);
        ArgumentNullException.ThrowIfNull(world);
        if (trainingCorpus.Documents.Any(d => CorpusSplit.IsEvaluationFile(d.Name)))
            throw new ArgumentException(
                $"Training must not use the held-out evaluation text {CorpusSplit.EvaluationFileName}; "
                + "load the corpus with CorpusPart.Training.",
                nameof(trainingCorpus));
        _seed = seed;
        Mix = mix ?? TrainingMix.Paraphrasing;
        Curriculum = curriculum ?? LengthCurriculum.ShortHeavy;
        _text = new PlainTextTask(trainingCorpus);
        IQaTask[] tasks =
        [
            new NiahTask(trainingCorpus, world),
            new RagTask(trainingCorpus, world, mix: Mix.Distractors),
            new ClosedBookTask(world),
            new ConflictTask(trainingCorpus, world, mix: Mix.Distractors),
        ];
        _tasks = tasks.ToDictionary(t => t.Kind);
    }

    /// <summary>Loads the training part of a corpus folder (everything but the held-out evaluation text).</summary>
    public static TrainingSampleSource FromFolder(string corpusFolder, int seed, World? world = null,
        Func<string, int>? countTokens = null, TrainingMix? mix = null) =>
        new(Corpus.Load(corpusFolder, CorpusPart.Training, countTokens), world ?? World.Default, seed, mix);

    public TrainingMix Mix { get; }

    public Mixture Mixture => Mix.Mixture;

    public LengthCurriculum Curriculum { get; }

    /// <summary>
    /// One length per optimiser step (the trainer packs a batch at one length), deterministic per step.
    /// </summary>
    public int ContextTokensForStep(long step, double progress) =>
        Curriculum.Sample(progress, SeededRandom.For(~_seed, step));

    public TrainingSample Sample(long index, int contextTokens)
    {
        var (rng, kind) = Draw(index, contextTokens);
        return kind == TaskKind.Text
            ? _text.Create(rng, contextTokens)
            : PromptFormat.ToTrainingSample(_tasks[kind].Create(rng, contextTokens));
    }

    /// <summary>
    /// The example behind sample <paramref name="index"/> (null for plain text): its facts and forms.
    /// </summary>
    public QaExample? Example(long index, int contextTokens)
    {
        var (rng, kind) = Draw(index, contextTokens);
        return kind == TaskKind.Text ? null : _tasks[kind].Create(rng, contextTokens);
    }

    private (Random Rng, TaskKind Kind) Draw(long index, int contextTokens)
    {
        ContextLength.Validate(contextTokens);
        var rng = SeededRandom.For(_seed, index);
        return (rng, Mixture.Pick(rng));
    }
}

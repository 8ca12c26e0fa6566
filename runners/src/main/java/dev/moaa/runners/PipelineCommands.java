package dev.moaa.runners;

import dev.moaa.pipelines.report.Reports;
import dev.moaa.pipelines.judge.JudgeEvalCommand;
import dev.moaa.pipelines.ConfigException;
import dev.moaa.pipelines.DpoPipeline;
import dev.moaa.pipelines.ExitCodes;
import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.RunCommand;
import dev.moaa.pipelines.RunKind;
import dev.moaa.pipelines.RunRequest;
import dev.moaa.pipelines.RunSpec;
import dev.moaa.pipelines.SftPipeline;
import dev.moaa.runners.cli.Cli;
import dev.moaa.runners.cli.RunFlags;
import dev.moaa.runners.flink.InsideFlink;
import dev.moaa.runners.launch.CorpusEstimate;
import dev.moaa.runners.launch.ObjectStorage;
import dev.moaa.runners.launch.RunnerDefaults;
import dev.moaa.runners.training.TrainAfterRun;
import dev.moaa.transforms.io.StoragePath;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import org.apache.beam.sdk.options.PipelineOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;

/** The commands that run one pipeline: {@code moaa sft}, {@code moaa dpo} and {@code moaa judge-eval}. */
final class PipelineCommands {
  private PipelineCommands() {}

  static final String BEAM_FOOTER = "%nBeam's own flags (--runner=FlinkRunner, --flinkMaster=HOST:PORT, --parallelism=N,"
      + " --streaming=false, ...) pass through to Beam.%nExit codes: 0 done and reconciled; 1 failed or not reconciled;"
      + " 2 bad flags or configuration, or a model the preflight found unusable; 3 stopped by the budget; 4 a model"
      + " failed more than its max_failure_share, or no row was written.";

  /**
   * The config, read once; a config error is a usage error in the product's words.
   */
  static MoaaConfig load(CommandSpec spec, Path file) {
    try {
      return MoaaConfig.load(file);
    } catch (ConfigException e) {
      throw new ParameterException(spec.commandLine(), "configuration error: " + e.getMessage());
    }
  }

  /**
   * Beam's options from the flags passed through, read before the config so that a misspelt flag
   * is named first; the runner defaults are set once the config is read ({@link #withDefaults}).
   */
  static PipelineOptions beamOptions(CommandSpec spec, List<String> passed) {
    return Cli.beamOptions(spec, passed);
  }

  /** {@code options} with the runner defaults for {@code config}'s models, for the flags not given. */
  static PipelineOptions withDefaults(PipelineOptions options, List<String> passed, MoaaConfig config) {
    RunnerDefaults.apply(options, RunnerDefaults.given(passed), RunnerDefaults.totalConcurrency(config));
    return options;
  }

  /**
   * As {@link #withDefaults}, after leaving the DirectRunner for Flink's embedded batch runner when
   * no runner is named and the input outgrows the heap ({@link RunnerDefaults#chooseForCorpus}).
   */
  static PipelineOptions withDefaults(PipelineOptions options, List<String> passed, MoaaConfig config,
      Optional<CorpusEstimate> corpus, String command, PrintStream err) {
    Set<String> given = RunnerDefaults.given(passed);
    RunnerDefaults.chooseForCorpus(options, given, corpus).ifPresent(line -> err.println(command + ": " + line));
    RunnerDefaults.apply(options, given, RunnerDefaults.totalConcurrency(config));
    return options;
  }

  /**
   * {@code request} with more shards than the default for a large corpus ({@link
   * RunnerDefaults#shardsFor}), when neither {@code --shards} nor the config's {@code output.shards}
   * sets them; the run says so.
   */
  static RunRequest sized(RunRequest request, RunFlags flags, MoaaConfig config, Optional<CorpusEstimate> corpus,
      String command, PrintStream err) {
    if (flags.shards() != null || config.shardsSet() || corpus.isEmpty()) {
      return request;
    }
    int shards = RunnerDefaults.shardsFor(corpus.get().rows(), config.shards());
    if (shards == request.spec().shards()) {
      return request;
    }
    err.printf(java.util.Locale.ROOT, "%s: %d shards per format for %s, about %,d rows each (output.shards or"
        + " --shards sets them)%n", command, shards, corpus.get().describe(), corpus.get().rows() / shards);
    RunSpec s = request.spec();
    return request.withSpec(new RunSpec(s.inputs(), s.output(), s.format(), shards));
  }

  /** {@code moaa sft} and {@code moaa dpo}: the pipeline, then training when the config's train.after names it. */
  abstract static class DataCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE", required = true,
        description = "The YAML configuration file (models and MoA topology).")
    Path config;

    @Option(names = "--input", paramLabel = "GLOB[,GLOB]", required = true,
        description = "Input files: one or more comma-separated globs of JSONL (optionally compressed) or Parquet files.")
    String input;

    @Option(names = "--output", paramLabel = "DIR", required = true,
        description = "Output folder for shards, dead letters, the manifest, the dataset card and the report.")
    String output;

    @Option(names = "--overwrite", arity = "0..1", paramLabel = "true|false", fallbackValue = "true",
        description = "Replace the results of an earlier run in the output folder.")
    boolean overwrite;

    @Mixin RunFlags flags;

    @Unmatched List<String> beamFlags = new ArrayList<>();

    private final PrintStream out;
    private final PrintStream err;

    DataCommand(PrintStream out, PrintStream err) {
      this.out = out;
      this.err = err;
    }

    abstract RunKind kind();

    @Override
    public Integer call() {
      boolean inFlink = InsideFlink.program();
      if (inFlink && !RunnerDefaults.given(beamFlags).contains("runner")) {
        // main runs inside a Flink cluster (a session job, Flink's REST jar run): the job runs on it
        beamFlags.add("--runner=FlinkRunner");
      }
      PipelineOptions options = beamOptions(spec, beamFlags);
      MoaaConfig c = load(spec, config);
      RunRequest request;
      try {
        request = flags.request(c, input, output, overwrite);
      } catch (IllegalArgumentException e) {
        throw new ParameterException(spec.commandLine(), e.getMessage());
      }
      try {
        // before the corpus is listed: a bucket without credentials is a usage error, not a slow retry
        ObjectStorage.check(request.spec(), options);
      } catch (IllegalArgumentException e) {
        throw new ParameterException(spec.commandLine(), e.getMessage());
      }
      Optional<CorpusEstimate> corpus = RunnerDefaults.estimate(options, request.spec().inputs());
      withDefaults(options, beamFlags, c, corpus, "moaa " + kind().command(), err);
      request = sized(request, flags, c, corpus, "moaa " + kind().command(), err);
      request = request.withSpec(RunnerDefaults.forRunner(request.spec(), options));
      if (request.submitOnly() || inFlink) {
        try {
          RunnerDefaults.submitOnly(options, inFlink);
        } catch (IllegalArgumentException e) {
          throw new ParameterException(spec.commandLine(), e.getMessage());
        }
        request = request.withSubmitOnly(true);
      }
      if (StoragePath.isUrl(request.spec().output())
          && c.train().map(t -> t.trainsAfter(kind().command())).orElse(false)) {
        throw new ParameterException(spec.commandLine(), "train.after trains from a local output folder, and --output "
            + request.spec().output() + " is in object storage: give a local --output, or train later with moaa train");
      }
      RunCommand.Outcome o = RunCommand.execute(kind(), request, options, RunnerDefaults.target(options), Reports.STANDARD, out, err);
      if (request.submitOnly()) {
        return o.exitCode(); // training, where the config asks for it, follows moaa finish
      }
      return o.exitCode() != ExitCodes.OK ? o.exitCode()
          : TrainAfterRun.train(kind().command(), kind().shardDir(), o.output(), c, out, err);
    }
  }

  @Command(name = "sft", mixinStandardHelpOptions = true, sortOptions = false,
      description = "Synthesize SFT data: the proposers answer every turn, the aggregator writes one answer.",
      footer = BEAM_FOOTER)
  static final class Sft extends DataCommand {
    Sft(PrintStream out, PrintStream err) {
      super(out, err);
    }

    @Override
    RunKind kind() {
      return SftPipeline.KIND;
    }
  }

  @Command(name = "dpo", mixinStandardHelpOptions = true, sortOptions = false,
      description = "Preference data: K answers from the policy, judged pairwise in both orders.",
      footer = BEAM_FOOTER)
  static final class Dpo extends DataCommand {
    Dpo(PrintStream out, PrintStream err) {
      super(out, err);
    }

    @Override
    RunKind kind() {
      return DpoPipeline.KIND;
    }
  }

  @Command(name = "judge-eval", mixinStandardHelpOptions = true, sortOptions = false,
      description = {"Accuracy and consistency of the configured judge on labelled pairs.",
          "The pairs use the RewardBench layout: prompt, chosen, rejected, optional subset and id; the report gives",
          "accuracy overall and per subset, position consistency, each judge's accuracy and their agreement."},
      footer = "%nBeam's own flags (--runner, ...) pass through to Beam.%nExit codes: 0 done; 1 the pipeline failed;"
          + " 2 bad flags, configuration or input.")
  static final class JudgeEval implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE", required = true, description = "The YAML configuration file.")
    Path config;

    @Option(names = "--input", paramLabel = "PAIRS.jsonl", required = true, description = "The labelled pairs.")
    Path input;

    @Option(names = "--output", paramLabel = "DIR", required = true, description = "Where judgments and report.json go.")
    Path output;

    @Option(names = "--overwrite", arity = "0..1", paramLabel = "true|false", fallbackValue = "true",
        description = "Replace the results of an earlier evaluation in the output folder.")
    boolean overwrite;

    @Unmatched List<String> beamFlags = new ArrayList<>();

    private final PrintStream out;
    private final PrintStream err;

    JudgeEval(PrintStream out, PrintStream err) {
      this.out = out;
      this.err = err;
    }

    @Override
    public Integer call() {
      PipelineOptions options = beamOptions(spec, beamFlags);
      MoaaConfig c = load(spec, config);
      withDefaults(options, beamFlags, c);
      return JudgeEvalCommand.run(c, input, output, overwrite, options, RunnerDefaults.target(options), out, err);
    }
  }
}

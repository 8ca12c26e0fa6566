package dev.moaa.runners.cli;

import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.RunRequest;
import dev.moaa.pipelines.RunSpec;
import dev.moaa.transforms.input.InputFormat;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Unmatched;

/**
 * How a pipeline run behaves, shared by {@code moaa sft}, {@code moaa dpo} and {@code moaa run}
 * (a picocli mixin): the row layout and shard count (overriding the config), the progress line and
 * the preflight. The names keep Beam's spelling, as they did when Beam's options parser read them.
 */
public final class RunFlags {
  @Option(names = "--inputFormat", paramLabel = "FORMAT",
      description = "Row layout: auto, messages, sharegpt, alpaca or prompt. Overrides input.format of the config.")
  String inputFormat;

  @Option(names = "--shards", paramLabel = "N", description = "Shards per output. Overrides output.shards of the config.")
  Integer shards;

  @Option(names = "--progressSeconds", paramLabel = "S", defaultValue = "10",
      description = "Seconds between progress lines while a run in this process (DirectRunner, embedded Flink) is under way;"
          + " 0 turns them off"
          + " (default: ${DEFAULT-VALUE}).")
  int progressSeconds;

  @Option(names = "--preflight", arity = "0..1", paramLabel = "true|false", defaultValue = "true",
      fallbackValue = "true",
      description = "Before the first row, send one small request to every model of the run and stop with exit code 2"
          + " when one cannot be used (default: ${DEFAULT-VALUE}).")
  boolean preflight;

  @Option(names = "--submitOnly", arity = "0..1", paramLabel = "true|false", defaultValue = "false",
      fallbackValue = "true",
      description = "On a Flink cluster (--runner=FlinkRunner --flinkMaster=HOST:PORT): submit the job and return;"
          + " moaa finish waits for it and writes the manifest, dataset card and report. On whenever the jar's main runs"
          + " inside a Flink cluster (Flink's REST jar run, a session job of the Flink Kubernetes Operator).")
  boolean submitOnly;

  /** The row layout given, or null for the config's. */
  public InputFormat format() {
    return inputFormat == null ? null : InputFormat.parse(inputFormat);
  }

  public Integer shards() {
    return shards;
  }

  public int progressSeconds() {
    return progressSeconds;
  }

  public boolean preflight() {
    return preflight;
  }

  public boolean submitOnly() {
    return submitOnly;
  }

  /** The request of a run of {@code config} from {@code inputs} into {@code output}. */
  public RunRequest request(MoaaConfig config, String inputs, String output, boolean overwrite) {
    return new RunRequest(config, RunSpec.of(config, inputs, output, format(), shards), overwrite, progressSeconds,
        preflight, submitOnly);
  }

  /** The flags that change the data a run writes, as the loop's fingerprints name them ({@code --shards=4}). */
  public List<String> dataFlags() {
    List<String> flags = new ArrayList<>();
    if (inputFormat != null) {
      flags.add("--inputFormat=" + inputFormat);
    }
    if (shards != null) {
      flags.add("--shards=" + shards);
    }
    return flags;
  }

  /** The run flags among {@code args}, and the others (for Beam), in order. */
  public record Split(RunFlags flags, List<String> rest) {}

  /**
   * Picks this class's flags out of {@code args} (a command that passes the pipeline's flags through,
   * such as {@code moaa bench}), by the same declarations as {@code moaa sft}'s.
   *
   * @throws IllegalArgumentException for a bad value of one of them
   */
  public static Split split(List<String> args) {
    Holder h = new Holder();
    try {
      new CommandLine(h).parseArgs(args.toArray(String[]::new));
    } catch (CommandLine.ParameterException e) {
      throw new IllegalArgumentException(Cli.message(e), e);
    }
    return new Split(h.flags, List.copyOf(h.rest));
  }

  @Command(name = "run-flags")
  private static final class Holder {
    @Mixin RunFlags flags;

    @Unmatched List<String> rest = new ArrayList<>();
  }
}

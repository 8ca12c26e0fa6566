package dev.moaa.runners.launch;

import dev.moaa.pipelines.report.Reports;
import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.RunCommand;
import dev.moaa.pipelines.RunKind;
import dev.moaa.pipelines.RunRequest;
import java.io.PrintStream;
import java.util.List;
import org.apache.beam.sdk.options.PipelineOptions;

/**
 * Starts a pipeline from typed values, for the commands that run one on the user's behalf (the
 * quick start, the benchmarks, the loop, the cluster warm-up): the runner is read from the
 * options' type, and the spec's paths are made absolute where the runner needs it.
 */
public final class Launch {
  private Launch() {}

  /** Beam's options for the DirectRunner, sized for {@code config}'s models. */
  public static PipelineOptions directOptions(MoaaConfig config) {
    return RunnerDefaults.options(List.of(), config);
  }

  /** Runs one pipeline of {@code kind} with {@code options} (the runner defaults already applied). */
  public static RunCommand.Outcome run(RunKind kind, RunRequest request, PipelineOptions options, PrintStream out,
      PrintStream err) {
    RunRequest r = request.withSpec(RunnerDefaults.forRunner(request.spec(), options));
    return RunCommand.execute(kind, r, options, RunnerDefaults.target(options), Reports.STANDARD, out, err);
  }
}

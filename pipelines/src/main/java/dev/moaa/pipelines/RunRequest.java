package dev.moaa.pipelines;

/**
 * What one {@code sft} or {@code dpo} run is asked to do, besides the runner: the config (parsed
 * once, by the command), the inputs and output ({@link RunSpec}), and how the run behaves.
 *
 * @param overwrite replace the results of an earlier, finished run in the output folder
 * @param progressSeconds seconds between progress lines (runs in this JVM: the DirectRunner, Flink's embedded runner); 0 turns them off
 * @param preflight probe every model once before the first row, and stop when one cannot be used
 * @param submitOnly hand the job to a Flink cluster and return, leaving {@code _run/submitted.json}
 *     for {@code moaa finish}, which waits for the job and writes the manifest, card and report
 */
public record RunRequest(MoaaConfig config, RunSpec spec, boolean overwrite, int progressSeconds, boolean preflight,
    boolean submitOnly) {
  /** A request that waits for its job. */
  public RunRequest(MoaaConfig config, RunSpec spec, boolean overwrite, int progressSeconds, boolean preflight) {
    this(config, spec, overwrite, progressSeconds, preflight, false);
  }

  /** A request with the command line's defaults: no overwrite, progress every 10 s, preflight on. */
  public static RunRequest of(MoaaConfig config, RunSpec spec) {
    return new RunRequest(config, spec, false, 10, true);
  }

  public RunRequest withOverwrite(boolean value) {
    return new RunRequest(config, spec, value, progressSeconds, preflight, submitOnly);
  }

  public RunRequest withProgressSeconds(int value) {
    return new RunRequest(config, spec, overwrite, value, preflight, submitOnly);
  }

  public RunRequest withPreflight(boolean value) {
    return new RunRequest(config, spec, overwrite, progressSeconds, value, submitOnly);
  }

  public RunRequest withConfig(MoaaConfig value) {
    return new RunRequest(value, spec, overwrite, progressSeconds, preflight, submitOnly);
  }

  public RunRequest withSpec(RunSpec value) {
    return new RunRequest(config, value, overwrite, progressSeconds, preflight, submitOnly);
  }

  public RunRequest withSubmitOnly(boolean value) {
    return new RunRequest(config, spec, overwrite, progressSeconds, preflight, value);
  }
}

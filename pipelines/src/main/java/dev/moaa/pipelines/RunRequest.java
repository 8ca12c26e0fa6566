package dev.moaa.pipelines;

/**
 * What one {@code sft} or {@code dpo} run is asked to do, besides the runner: the config (parsed
 * once, by the command), the inputs and output ({@link RunSpec}), and how the run behaves.
 *
 * @param overwrite replace the results of an earlier, finished run in the output folder
 * @param progressSeconds seconds between progress lines (runs in this JVM: the DirectRunner, Flink's embedded runner); 0 turns them off
 * @param preflight probe every model once before the first row, and stop when one cannot be used
 */
public record RunRequest(MoaaConfig config, RunSpec spec, boolean overwrite, int progressSeconds, boolean preflight) {
  /** A request with the command line's defaults: no overwrite, progress every 10 s, preflight on. */
  public static RunRequest of(MoaaConfig config, RunSpec spec) {
    return new RunRequest(config, spec, false, 10, true);
  }

  public RunRequest withOverwrite(boolean value) {
    return new RunRequest(config, spec, value, progressSeconds, preflight);
  }

  public RunRequest withProgressSeconds(int value) {
    return new RunRequest(config, spec, overwrite, value, preflight);
  }

  public RunRequest withPreflight(boolean value) {
    return new RunRequest(config, spec, overwrite, progressSeconds, value);
  }
}

package dev.moaa.pipelines;

/**
 * Where a run executes, as the command layer learned it from the typed pipeline options (the
 * runner's class, Flink's options): the runner's name for reports, whether it is the DirectRunner
 * (pacing), the Flink master of a cluster run (its REST address, for the job's state
 * and failure cause) and the parallelism (for the warning that limits multiply without coordination).
 */
public record RunTarget(String runner, boolean direct, String flinkMaster, int parallelism) {
  public RunTarget {
    parallelism = Math.max(1, parallelism);
  }

  /**
   * Whether the run is Flink's mini-cluster in this JVM ({@code --flinkMaster=[local]}, or Flink's
   * {@code [auto]} from a plain {@code java} process): its {@code run()} returns at the end of the job,
   * so the progress line reads this JVM's counters.
   */
  public boolean embeddedFlink() {
    return "FlinkRunner".equals(runner) && (flinkMaster == null || "[local]".equals(flinkMaster)
        || "[auto]".equals(flinkMaster));
  }

  /** The DirectRunner in this JVM. */
  public static RunTarget directRunner() {
    return new RunTarget("DirectRunner", true, null, 1);
  }
}

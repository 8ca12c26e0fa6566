package dev.moaa.pipelines;

/**
 * What the exit code of a {@code moaa} run tells a script. The same codes for {@code sft}, {@code
 * dpo}, {@code run} and {@code judge-eval}; the README lists them.
 */
public final class ExitCodes {
  /** Done: every row read is written, dead-lettered or dropped, and no model failed beyond its share. */
  public static final int OK = 0;
  /** The pipeline failed, or its counts do not reconcile. */
  public static final int FAILED = 1;
  /** Bad flags or configuration, or a model the preflight found unusable: nothing was processed. */
  public static final int USAGE = 2;
  /** Done and reconciled, but the budget stopped rows; the same command with more budget finishes them. */
  public static final int BUDGET_STOPPED = 3;
  /**
   * Done and reconciled, but a model failed more of its calls than its {@code max_failure_share}
   * allows, or nothing was written from a non-empty input; the same command resumes the failed rows.
   */
  public static final int UNHEALTHY = 4;

  private ExitCodes() {}

  /** A few words on a code, for the last line of a run. */
  public static String meaning(int code) {
    return switch (code) {
      case OK -> "done";
      case FAILED -> "the run failed or did not reconcile";
      case USAGE -> "bad flags, configuration or endpoint; nothing processed";
      case BUDGET_STOPPED -> "stopped by the budget; rerun with more budget to finish";
      case UNHEALTHY -> "finished, but with failures above the allowed share or no row written";
      default -> "unknown";
    };
  }
}

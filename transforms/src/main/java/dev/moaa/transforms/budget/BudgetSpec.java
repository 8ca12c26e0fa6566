package dev.moaa.transforms.budget;

import java.io.Serializable;
import java.util.UUID;

/**
 * A run's spending limits: at most {@code maxCostUsd} dollars and {@code maxTokens} tokens (prompt
 * plus completion) of paid calls, answers served from the cache not counted. Zero means no limit.
 * A call whose completion length is unbounded (no {@code max_tokens} on its model) is reckoned at
 * {@code assumedCompletionTokens} while in flight.
 */
public final class BudgetSpec implements Serializable {
  private static final long serialVersionUID = 1L;

  private final String runId;
  private final double maxCostUsd;
  private final long maxTokens;
  private final int assumedCompletionTokens;
  private final String launch;
  private final String ledgerDir;

  private BudgetSpec(String runId, double maxCostUsd, long maxTokens, int assumedCompletionTokens) {
    this(runId, maxCostUsd, maxTokens, assumedCompletionTokens, runId, null);
  }

  private BudgetSpec(String runId, double maxCostUsd, long maxTokens, int assumedCompletionTokens, String launch,
      String ledgerDir) {
    if (maxCostUsd < 0 || maxTokens < 0 || assumedCompletionTokens < 1) {
      throw new IllegalArgumentException("budget limits must not be negative");
    }
    this.runId = runId;
    this.maxCostUsd = maxCostUsd;
    this.maxTokens = maxTokens;
    this.assumedCompletionTokens = assumedCompletionTokens;
    this.launch = launch;
    this.ledgerDir = ledgerDir;
  }

  /**
   * These limits bound to an output folder: {@code runId} is the folder's (the same on every rerun,
   * resume and restart, so what the folder spent before counts against the limits), {@code launch}
   * names this start of a command, and {@code ledgerDir} (an absolute local path, or null) is where
   * the {@link CallLedger} of every request is kept.
   */
  public BudgetSpec forFolder(String runId, String launch, String ledgerDir) {
    return new BudgetSpec(runId, maxCostUsd, maxTokens, assumedCompletionTokens, launch, ledgerDir);
  }


  /** No limit. */
  public static BudgetSpec unlimited() {
    return new BudgetSpec(UUID.randomUUID().toString(), 0, 0, 4096);
  }

  /** Limits for a new run, with a run id of its own. */
  public static BudgetSpec of(double maxCostUsd, long maxTokens, int assumedCompletionTokens) {
    return new BudgetSpec(UUID.randomUUID().toString(), maxCostUsd, maxTokens, assumedCompletionTokens);
  }

  public String runId() { return runId; }
  /** This start of a command (a run id's reruns and resumes each have their own). */
  public String launch() { return launch; }
  /** Where the ledger of every paid request is kept, or null for none. */
  public String ledgerDir() { return ledgerDir; }
  public double maxCostUsd() { return maxCostUsd; }
  public long maxTokens() { return maxTokens; }
  public int assumedCompletionTokens() { return assumedCompletionTokens; }

  public boolean limited() {
    return maxCostUsd > 0 || maxTokens > 0;
  }

  @Override
  public String toString() {
    if (!limited()) {
      return "no budget";
    }
    StringBuilder b = new StringBuilder("budget");
    if (maxCostUsd > 0) {
      b.append(String.format(java.util.Locale.ROOT, " $%.4f", maxCostUsd));
    }
    if (maxTokens > 0) {
      b.append(' ').append(maxTokens).append(" tokens");
    }
    return b.toString();
  }
}

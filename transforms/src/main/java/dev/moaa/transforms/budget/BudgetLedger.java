package dev.moaa.transforms.budget;


/**
 * What a run has spent and has in flight, in this JVM. Before a call is sent it reserves its worst
 * case (estimated prompt plus the most completion tokens it may get); the reservation is replaced by
 * the real usage when the answer arrives. Once a call does not fit, the ledger closes: no later
 * call is sent, however small, so a run stops at a clean point at or below its limit.
 */
public final class BudgetLedger {
  private static final String KIND = "budget-ledger";

  private final BudgetSpec spec;
  private double spentUsd;
  private long spentTokens;
  private double reservedUsd;
  private long reservedTokens;
  private boolean closed;
  private long refused;

  BudgetLedger(BudgetSpec spec) {
    this.spec = spec;
  }

  /**
   * The ledger of a run in this JVM; pair with {@link #release}. A run bound to an output folder
   * with a {@link CallLedger} starts from what the folder's earlier launches spent (requests still
   * in doubt at their worst case): the budget belongs to the folder, not to one start of a command.
   */
  public static BudgetLedger acquire(BudgetSpec spec) {
    return dev.moaa.transforms.SharedResources.acquire(KIND, key(spec), () -> {
      BudgetLedger fresh = new BudgetLedger(spec);
      fresh.startFromEarlierLaunches();
      return fresh;
    }, l -> { });
  }

  private static String key(BudgetSpec spec) {
    return spec.runId() + "/" + spec.launch();
  }

  public static void release(BudgetLedger ledger) {
    dev.moaa.transforms.SharedResources.release(KIND, key(ledger.spec), ledger);
  }

  private void startFromEarlierLaunches() {
    if (spec.ledgerDir() == null || !spec.limited()) {
      return;
    }
    try {
      CallLedger.Summary folder = CallLedger.read(java.nio.file.Paths.get(spec.ledgerDir()));
      CallLedger.Totals before = folder.before(spec.launch());
      spentUsd = before.costUsd() + before.inDoubtWorstUsd();
      spentTokens = before.promptTokens() + before.completionTokens();
      // stopped by this budget before, and not raised since: nothing fits
      closed = folder.closedAtOrAbove(spec.maxCostUsd(), spec.maxTokens());
      // a stopped budget was spent up to its limit: a raise of X lets X more go out, not the margin too
      long[] stoppedAt = folder.closedAt();
      spentUsd = Math.max(spentUsd, stoppedAt[0] / 1e6);
      spentTokens = Math.max(spentTokens, stoppedAt[1]);
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("cannot read the call ledger " + spec.ledgerDir()
          + " (what the folder spent before): " + e.getMessage(), e);
    }
  }

  /** A call's hold on the budget until it is settled. */
  public record Reservation(double usd, long tokens) {}

  /** Reserves a call's worst case; null when it might not fit, after which every call is refused. */
  public synchronized Reservation reserve(double usd, long tokens) {
    if (closed) {
      refused++;
      return null;
    }
    boolean fits = (spec.maxCostUsd() <= 0 || spentUsd + reservedUsd + usd <= spec.maxCostUsd())
        && (spec.maxTokens() <= 0 || spentTokens + reservedTokens + tokens <= spec.maxTokens());
    if (!fits) {
      closed = true;
      refused++;
      return null;
    }
    reservedUsd += usd;
    reservedTokens += tokens;
    return new Reservation(usd, tokens);
  }

  /** Replaces a reservation by what the call really cost (zero for a call that failed). */
  public synchronized void settle(Reservation r, double usd, long tokens) {
    reservedUsd -= r.usd();
    reservedTokens -= r.tokens();
    spentUsd += usd;
    spentTokens += tokens;
  }

  public synchronized double spentUsd() { return spentUsd; }
  public synchronized long spentTokens() { return spentTokens; }
  public synchronized boolean closed() { return closed; }
  public synchronized long refused() { return refused; }
  public BudgetSpec spec() { return spec; }
}

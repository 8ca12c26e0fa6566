package dev.moaa.transforms.limits;

import java.io.Serializable;

/**
 * The shared budget ledger of a coordination key at one moment: what calls have spent (settled),
 * what calls in flight hold (reserved, worst case), whether the ledger has closed (a call did not
 * fit, so every later one is refused) and how many reservations were refused.
 */
public record BudgetState(long spentMicroUsd, long spentTokens, long reservedMicroUsd, long reservedTokens,
    boolean closed, long refused) implements Serializable {

  public double spentUsd() { return spentMicroUsd / 1e6; }

  public double reservedUsd() { return reservedMicroUsd / 1e6; }
}

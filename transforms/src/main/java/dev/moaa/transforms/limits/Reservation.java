package dev.moaa.transforms.limits;

/**
 * A call's worst case held on the shared budget until {@link Coordinator#settle}. A lease like a
 * {@link Slot}: if the coordinator holding it dies, the held amount is released after the lease
 * time to live (what was already settled stays spent).
 */
public final class Reservation {
  private final String id;
  private final long microUsd;
  private final long tokens;

  Reservation(String id, long microUsd, long tokens) {
    this.id = id;
    this.microUsd = microUsd;
    this.tokens = tokens;
  }

  /** The lease id, unique in the cluster. */
  public String id() { return id; }

  /** The dollars held, as reserved (rounded up to a micro-dollar). */
  public double usd() { return microUsd / 1e6; }

  public long microUsd() { return microUsd; }

  public long tokens() { return tokens; }

  @Override
  public String toString() {
    return "Reservation{" + id + ", " + microUsd + " micro-USD, " + tokens + " tokens}";
  }
}

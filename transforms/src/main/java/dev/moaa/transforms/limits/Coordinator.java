package dev.moaa.transforms.limits;

import java.time.Duration;
import java.util.Map;

/**
 * The limits and budget of every worker of a run, shared through one store: per model, a
 * concurrency limit counted in slots, requests and tokens per minute, a Retry-After hold and one
 * adaptive concurrency limit; per coordination key, a budget ledger. Open one with {@link
 * Coordination#open()}; {@link LocalCoordinator} keeps the state in this JVM, {@link
 * RedisCoordinator} in Redis, with the same contract.
 *
 * <p>A call goes through it like this:
 *
 * <pre>{@code
 * Slot slot = coordinator.acquireSlot(model, (int) coordinator.adaptiveLimit(model, initial), timeout);
 * long wait;
 * while ((wait = coordinator.admitRate(model, rpm, tpm, estimatedTokens)) > 0) sleep(wait);
 * Reservation r = coordinator.reserve(worstUsd, worstTokens, maxUsd, maxTokens); // null: stop the run
 * ... call ...
 * coordinator.settle(r, usd, tokens);
 * coordinator.correctTokens(model, tokens - estimatedTokens);
 * coordinator.release(slot);
 * }</pre>
 *
 * <p>Every method is thread-safe. Every method may throw {@link CoordinationException} when the
 * store cannot be reached: the caller must then stop sending calls rather than send them without
 * limits. Slots and reservations are leases renewed by a heartbeat thread of the coordinator that
 * holds them; when a process dies they expire {@link Coordination#leaseTtlMs()} after the last
 * renewal and go back to the others.
 */
public interface Coordinator extends AutoCloseable {

  /** The spec this coordinator was opened from. */
  Coordination coordination();

  // ---- concurrency ----

  /**
   * Takes one of the {@code limit} slots of {@code model} across the cluster, waiting up to
   * {@code timeout} for one to free up; null when none did. Waiting polls the store with a short
   * backoff (one waiting thread per model per coordinator polls; a release in this coordinator
   * wakes it at once). Expired leases of dead workers are reclaimed here.
   */
  Slot acquireSlot(String model, int limit, Duration timeout) throws InterruptedException;

  /** Takes a slot of {@code model} if fewer than {@code limit} are held now; null otherwise. Never waits. */
  Slot tryAcquireSlot(String model, int limit);

  /** Gives a slot back; a slot already released or expired is ignored. */
  void release(Slot slot);

  /** Slots of {@code model} held now in the whole cluster (live leases only). */
  int slotsInUse(String model);

  // ---- requests and tokens per minute ----

  /**
   * Admits one request of {@code model} estimated at {@code estimatedTokens} within {@code rpm}
   * requests and {@code tpm} tokens per minute (0 = no such limit), cluster-wide; returns 0 when it
   * was admitted (and counted), otherwise the milliseconds to wait before asking again (nothing is
   * counted then). While {@code model} is held by {@link #holdFor} it returns the hold's remainder.
   * Pacing is even: bursts are at most {@value #BURST_MS} ms worth of the rate (or one request),
   * so over any run the admitted rate stays within that of the limit.
   */
  long admitRate(String model, int rpm, long tpm, long estimatedTokens);

  /** Corrects the token count of {@code model} once a call's real usage is known (real minus estimated). */
  void correctTokens(String model, long delta);

  /** The most a burst of admissions may run ahead of the even rate, in milliseconds of that rate. */
  long BURST_MS = 200;

  // ---- Retry-After ----

  /** Holds every worker's new requests of {@code model} for {@code duration} (an existing longer hold stays). */
  void holdFor(String model, Duration duration);

  /** {@link #holdFor} until {@code epochMs} of this machine's clock. */
  default void holdUntil(String model, long epochMs) {
    long ms = epochMs - System.currentTimeMillis();
    if (ms > 0) {
      holdFor(model, Duration.ofMillis(ms));
    }
  }

  /** Milliseconds left of the hold of {@code model}; 0 when it is not held. */
  long holdRemainingMs(String model);

  // ---- adaptive concurrency ----

  /** The shared adaptive concurrency limit of {@code model}; set to {@code initial} if nobody set it yet. */
  double adaptiveLimit(String model, double initial);

  /**
   * Sets the adaptive limit of {@code model} to {@code next} if it is still exactly {@code
   * expected} (as read from {@link #adaptiveLimit}); false when another worker changed it first, so
   * a burst of 429s seen by many workers cuts the limit once.
   */
  boolean compareAndSetAdaptiveLimit(String model, double expected, double next);

  // ---- budget ----

  /**
   * Reserves a call's worst case on the budget of this coordination key: null when spent plus
   * reserved plus this could pass {@code maxUsd} or {@code maxTokens} (0 = no such limit), and then
   * the ledger closes for every worker, atomically: every later reservation is refused.
   */
  Reservation reserve(double usd, long tokens, double maxUsd, long maxTokens);

  /**
   * Replaces a reservation by what the call really cost (zero for a call that failed). The spend
   * counts even if the reservation's lease expired meanwhile: the call was paid.
   */
  void settle(Reservation reservation, double usd, long tokens);

  /** The ledger now (one read of the store). */
  BudgetState budget();

  /**
   * Opens a closed ledger again, keeping what was spent: a new launch of a run whose budget was
   * raised may send what now fits (the next call that does not fit closes it again).
   */
  void reopenBudget();

  /**
   * As {@link #reopenBudget()}, counting at least {@code floorUsd} dollars and {@code floorTokens}
   * tokens as spent: the limits at which a stopped budget closed, so that a raise of $X lets at
   * most $X more go out.
   */
  void reopenBudget(double floorUsd, long floorTokens);

  default double spentUsd() { return budget().spentUsd(); }

  default long spentTokens() { return budget().spentTokens(); }

  /** Whether the ledger has closed: a call did not fit, and every later one is refused. */
  default boolean budgetClosed() { return budget().closed(); }

  /** Reservations refused so far, by every worker. */
  default long refused() { return budget().refused(); }

  // ---- metrics and lifecycle ----

  /** Round trips to the store since opening (0 for state in this JVM), heartbeats included. */
  long roundTrips();

  /** {@link #roundTrips()} by operation: acquireSlot, release, admitRate, reserve, settle, renew, .... */
  Map<String, Long> roundTripsByOperation();

  /**
   * Releases every slot and reservation still held, stops the heartbeat and closes the connection.
   * Later calls throw {@link IllegalStateException}.
   */
  @Override
  void close();
}

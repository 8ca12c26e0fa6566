package dev.moaa.transforms.limits;

import java.security.SecureRandom;
import java.time.Duration;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What both coordinators share: lease ids, the registry of leases this coordinator holds, the
 * heartbeat that renews them, and the way a thread waits for a slot (one poller per model, short
 * backoff, woken at once by a local release). Subclasses supply the atomic operations on the store.
 */
abstract class LeasingCoordinator implements Coordinator {
  private static final Logger LOG = LoggerFactory.getLogger(LeasingCoordinator.class);
  static final long MIN_BACKOFF_MS = 2;
  static final long MAX_BACKOFF_MS = 50;

  protected final Coordination spec;
  private final String owner;
  private final AtomicLong sequence = new AtomicLong();
  private final Map<String, Set<String>> heldSlots = new ConcurrentHashMap<>();
  private final Map<String, Reservation> heldReservations = new ConcurrentHashMap<>();
  private final Map<String, Waiters> waiters = new ConcurrentHashMap<>();
  private final ScheduledExecutorService heartbeat;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final AtomicLong lostLeases = new AtomicLong();

  LeasingCoordinator(Coordination spec) {
    this.spec = spec;
    byte[] id = new byte[6];
    new SecureRandom().nextBytes(id);
    this.owner = HexFormat.of().formatHex(id);
    this.heartbeat = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "moaa-coordination-heartbeat-" + owner);
      t.setDaemon(true);
      return t;
    });
    long every = Math.max(50, spec.leaseTtlMs() / 3);
    heartbeat.scheduleWithFixedDelay(this::renewAll, every, every, TimeUnit.MILLISECONDS);
  }

  // ---- what a store supplies ----

  /** Atomically: drops expired slot leases of {@code model}, then adds {@code leaseId} if fewer than {@code limit} remain. */
  protected abstract boolean takeSlot(String model, int limit, String leaseId);

  protected abstract void dropSlot(String model, String leaseId);

  /** Atomically: drops expired reservations, then reserves if the ledger is open and it fits (else closes it). */
  protected abstract boolean takeReservation(Reservation r, long maxMicroUsd, long maxTokens);

  protected abstract void settleReservation(Reservation r, long microUsd, long tokens);

  /** Extends every lease named; returns those that were gone (expired and reclaimed by another worker). */
  protected abstract List<String> renew(Map<String, List<String>> slotsByModel, List<Reservation> reservations);

  /** Closes the connection to the store without touching any lease. */
  protected abstract void disconnect();

  // ---- slots ----

  @Override
  public Coordination coordination() {
    return spec;
  }

  @Override
  public final Slot tryAcquireSlot(String model, int limit) {
    checkOpen();
    checkModel(model);
    if (limit < 1) {
      throw new IllegalArgumentException("a concurrency limit is at least 1, got " + limit);
    }
    String id = nextId();
    if (!takeSlot(model, limit, id)) {
      return null;
    }
    heldSlots.computeIfAbsent(model, m -> ConcurrentHashMap.newKeySet()).add(id);
    return new Slot(model, id);
  }

  @Override
  public final Slot acquireSlot(String model, int limit, Duration timeout) throws InterruptedException {
    checkOpen();
    long deadline = System.nanoTime() + timeout.toNanos();
    Waiters w = waiters.computeIfAbsent(model, m -> new Waiters());
    if (!w.turn.tryLock(Math.max(0, timeout.toNanos()), TimeUnit.NANOSECONDS)) {
      return null;
    }
    try {
      long backoff = MIN_BACKOFF_MS;
      while (true) {
        long generation = w.generation();
        Slot s = tryAcquireSlot(model, limit);
        if (s != null) {
          return s;
        }
        long leftMs = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
        if (leftMs <= 0) {
          return null;
        }
        long jitter = ThreadLocalRandom.current().nextLong(backoff / 2 + 1);
        w.awaitChange(generation, Math.min(leftMs, backoff + jitter));
        backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
      }
    } finally {
      w.turn.unlock();
    }
  }

  @Override
  public final void release(Slot slot) {
    checkOpen();
    Set<String> held = heldSlots.get(slot.model());
    if (held == null || !held.remove(slot.id())) {
      return;
    }
    dropSlot(slot.model(), slot.id());
    Waiters w = waiters.get(slot.model());
    if (w != null) {
      w.signal();
    }
  }

  // ---- budget ----

  @Override
  public final Reservation reserve(double usd, long tokens, double maxUsd, long maxTokens) {
    checkOpen();
    if (!(usd >= 0) || tokens < 0 || !(maxUsd >= 0) || maxTokens < 0) {
      throw new IllegalArgumentException("budget amounts must not be negative");
    }
    Reservation r = new Reservation(nextId(), ceilMicro(usd), tokens);
    if (!takeReservation(r, Math.round(maxUsd * 1e6), maxTokens)) {
      return null;
    }
    heldReservations.put(r.id(), r);
    return r;
  }

  @Override
  public final void settle(Reservation r, double usd, long tokens) {
    checkOpen();
    if (!(usd >= 0) || tokens < 0) {
      throw new IllegalArgumentException("a call's cost must not be negative");
    }
    heldReservations.remove(r.id());
    settleReservation(r, Math.round(usd * 1e6), tokens);
  }

  // ---- lifecycle ----

  /** Leases this coordinator thinks it holds but found expired and taken when renewing. */
  long lostLeases() {
    return lostLeases.get();
  }

  private void renewAll() {
    Map<String, List<String>> slots = new HashMap<>();
    heldSlots.forEach((model, ids) -> {
      if (!ids.isEmpty()) {
        slots.put(model, List.copyOf(ids));
      }
    });
    List<Reservation> reservations = List.copyOf(heldReservations.values());
    if (slots.isEmpty() && reservations.isEmpty()) {
      return;
    }
    try {
      long lost = 0;
      for (String id : renew(slots, reservations)) {
        // a lease released or settled since the snapshot is gone too, and not lost
        boolean stillHeld = heldReservations.remove(id) != null;
        for (Set<String> ids : heldSlots.values()) {
          stillHeld |= ids.remove(id);
        }
        lost += stillHeld ? 1 : 0;
      }
      if (lost > 0) {
        lostLeases.addAndGet(lost);
        LOG.warn("{}: {} leases expired before they were renewed (the heartbeat was late by more than {} ms);"
            + " their slots or budget went back to the others", spec, lost, spec.leaseTtlMs());
      }
    } catch (RuntimeException e) {
      LOG.warn("{}: cannot renew leases: {}", spec, e.getMessage());
    }
  }

  @Override
  public final void close() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    heartbeat.shutdownNow();
    try {
      heldSlots.forEach((model, ids) -> {
        for (String id : List.copyOf(ids)) {
          dropSlot(model, id);
        }
      });
      for (Reservation r : List.copyOf(heldReservations.values())) {
        dropReservation(r);
      }
    } catch (RuntimeException e) {
      LOG.warn("{}: leases not released at close, they expire within {} ms: {}", spec, spec.leaseTtlMs(),
          e.getMessage());
    } finally {
      heldSlots.clear();
      heldReservations.clear();
      disconnect();
    }
  }

  /** Releases a reservation without spending (at close: the call's outcome is unknown). */
  protected abstract void dropReservation(Reservation r);

  /**
   * Stops as a killed process would: no more heartbeats, the connection dropped, nothing released.
   * For tests of lease expiry.
   */
  void abandon() {
    if (!closed.compareAndSet(false, true)) {
      return;
    }
    heartbeat.shutdownNow();
    disconnect();
  }

  protected final void checkOpen() {
    if (closed.get()) {
      throw new IllegalStateException(spec + ": the coordinator is closed");
    }
  }

  static void checkModel(String model) {
    if (model == null || model.isEmpty()) {
      throw new IllegalArgumentException("a model name must not be empty");
    }
  }

  private String nextId() {
    return owner + "-" + sequence.incrementAndGet();
  }

  static long ceilMicro(double usd) {
    return (long) Math.ceil(usd * 1e6 - 1e-6);
  }

  /** The turn of the threads of this coordinator waiting for a slot of one model. */
  private static final class Waiters {
    final ReentrantLock turn = new ReentrantLock(true);
    private long generation;

    synchronized long generation() {
      return generation;
    }

    synchronized void awaitChange(long seen, long ms) throws InterruptedException {
      long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
      long left;
      while (generation == seen && (left = deadline - System.nanoTime()) > 0) {
        TimeUnit.NANOSECONDS.timedWait(this, left);
      }
    }

    synchronized void signal() {
      generation++;
      notifyAll();
    }
  }
}

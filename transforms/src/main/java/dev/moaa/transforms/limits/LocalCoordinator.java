package dev.moaa.transforms.limits;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * The coordinator for one JVM: the same contract as {@link RedisCoordinator}, with the state in
 * memory. Coordinators opened in one JVM with the same key share one state (kept while any is
 * open), so several DoFn instances or concurrent runs of one process share limits and budget.
 * Slots and reservations are leases here too, with the same time to live and heartbeat.
 */
public final class LocalCoordinator extends LeasingCoordinator {
  private static final String KIND = "in-jvm-coordination";

  private final State state;

  private LocalCoordinator(Coordination spec, State state) {
    super(spec);
    this.state = state;
  }

  static LocalCoordinator open(Coordination spec) {
    State s = dev.moaa.transforms.SharedResources.acquire(KIND, spec.key(), State::new, st -> { });
    return new LocalCoordinator(spec, s);
  }

  private static long nowMs() {
    return System.nanoTime() / 1_000_000;
  }

  private static double nowMicros() {
    return System.nanoTime() / 1_000.0;
  }

  // ---- slots ----

  @Override
  protected boolean takeSlot(String model, int limit, String leaseId) {
    synchronized (state) {
      Map<String, Long> leases = state.slots.computeIfAbsent(model, m -> new HashMap<>());
      long now = nowMs();
      leases.values().removeIf(expiry -> expiry <= now);
      if (leases.size() >= limit) {
        return false;
      }
      leases.put(leaseId, now + spec.leaseTtlMs());
      return true;
    }
  }

  @Override
  protected void dropSlot(String model, String leaseId) {
    synchronized (state) {
      Map<String, Long> leases = state.slots.get(model);
      if (leases != null) {
        leases.remove(leaseId);
      }
    }
  }

  @Override
  public int slotsInUse(String model) {
    checkOpen();
    synchronized (state) {
      Map<String, Long> leases = state.slots.get(model);
      if (leases == null) {
        return 0;
      }
      long now = nowMs();
      leases.values().removeIf(expiry -> expiry <= now);
      return leases.size();
    }
  }

  // ---- rates ----

  @Override
  public long admitRate(String model, int rpm, long tpm, long estimatedTokens) {
    checkOpen();
    checkModel(model);
    if (rpm < 0 || tpm < 0 || estimatedTokens < 0) {
      throw new IllegalArgumentException("rates and token estimates must not be negative");
    }
    synchronized (state) {
      long held = holdLeft(model);
      if (held > 0) {
        return held;
      }
      Rate r = state.rates.computeIfAbsent(model, m -> new Rate());
      double now = nowMicros();
      double wait = 0;
      double reqPer = rpm > 0 ? Pacing.perUnitMicros(rpm) : 0;
      double tokPer = tpm > 0 ? Pacing.perUnitMicros(tpm) : 0;
      if (rpm > 0) {
        wait = Math.max(wait, Pacing.waitMicros(r.requestTat, now, reqPer, 1));
      }
      if (tpm > 0) {
        wait = Math.max(wait, Pacing.waitMicros(r.tokenTat, now, tokPer, estimatedTokens));
      }
      if (wait > 0) {
        return Math.max(1, (long) Math.ceil(wait / 1000));
      }
      if (rpm > 0) {
        r.requestTat = Pacing.take(r.requestTat, now, reqPer, 1);
      }
      if (tpm > 0) {
        r.tokenTat = Pacing.take(r.tokenTat, now, tokPer, estimatedTokens);
        r.tokenPer = tokPer;
      }
      return 0;
    }
  }

  @Override
  public void correctTokens(String model, long delta) {
    checkOpen();
    synchronized (state) {
      Rate r = state.rates.get(model);
      if (r != null && r.tokenPer > 0) {
        r.tokenTat += delta * r.tokenPer;
      }
    }
  }

  // ---- holds ----

  @Override
  public void holdFor(String model, Duration duration) {
    checkOpen();
    checkModel(model);
    synchronized (state) {
      state.holds.merge(model, nowMs() + duration.toMillis(), Math::max);
    }
  }

  @Override
  public long holdRemainingMs(String model) {
    checkOpen();
    synchronized (state) {
      return holdLeft(model);
    }
  }

  private long holdLeft(String model) {
    Long until = state.holds.get(model);
    return until == null ? 0 : Math.max(0, until - nowMs());
  }

  // ---- adaptive ----

  @Override
  public double adaptiveLimit(String model, double initial) {
    checkOpen();
    checkModel(model);
    synchronized (state) {
      return state.adaptive.computeIfAbsent(model, m -> initial);
    }
  }

  @Override
  public boolean compareAndSetAdaptiveLimit(String model, double expected, double next) {
    checkOpen();
    checkModel(model);
    synchronized (state) {
      Double current = state.adaptive.get(model);
      if (current == null || Double.compare(current, expected) != 0) {
        return false;
      }
      state.adaptive.put(model, next);
      return true;
    }
  }

  // ---- budget ----

  @Override
  protected boolean takeReservation(Reservation r, long maxMicroUsd, long maxTokens) {
    synchronized (state) {
      state.reclaimReservations(nowMs());
      if (state.closed) {
        state.refused++;
        return false;
      }
      boolean fits = (maxMicroUsd <= 0 || state.spentMicroUsd + state.reservedMicroUsd + r.microUsd() <= maxMicroUsd)
          && (maxTokens <= 0 || state.spentTokens + state.reservedTokens + r.tokens() <= maxTokens);
      if (!fits) {
        state.closed = true;
        state.refused++;
        return false;
      }
      state.reservedMicroUsd += r.microUsd();
      state.reservedTokens += r.tokens();
      state.reservations.put(r.id(), new Held(r.microUsd(), r.tokens(), nowMs() + spec.leaseTtlMs()));
      return true;
    }
  }

  @Override
  protected void settleReservation(Reservation r, long microUsd, long tokens) {
    synchronized (state) {
      state.unreserve(r.id());
      state.spentMicroUsd += microUsd;
      state.spentTokens += tokens;
    }
  }

  @Override
  protected void dropReservation(Reservation r) {
    synchronized (state) {
      state.unreserve(r.id());
    }
  }

  @Override
  public void reopenBudget() {
    reopenBudget(0, 0);
  }

  @Override
  public void reopenBudget(double floorUsd, long floorTokens) {
    checkOpen();
    synchronized (state) {
      state.spentMicroUsd = Math.max(state.spentMicroUsd, ceilMicro(floorUsd));
      state.spentTokens = Math.max(state.spentTokens, floorTokens);
      state.closed = false;
    }
  }

  @Override
  public BudgetState budget() {
    checkOpen();
    synchronized (state) {
      state.reclaimReservations(nowMs());
      return new BudgetState(state.spentMicroUsd, state.spentTokens, state.reservedMicroUsd, state.reservedTokens,
          state.closed, state.refused);
    }
  }

  // ---- leases ----

  @Override
  protected List<String> renew(Map<String, List<String>> slotsByModel, List<Reservation> reservations) {
    synchronized (state) {
      long now = nowMs();
      long expiry = now + spec.leaseTtlMs();
      List<String> lost = new ArrayList<>();
      for (Map.Entry<String, List<String>> e : slotsByModel.entrySet()) {
        Map<String, Long> leases = state.slots.get(e.getKey());
        for (String id : e.getValue()) {
          if (leases != null && leases.containsKey(id)) {
            leases.put(id, expiry);
          } else {
            lost.add(id);
          }
        }
      }
      for (Reservation r : reservations) {
        Held h = state.reservations.get(r.id());
        if (h != null) {
          h.expiry = expiry;
        } else {
          lost.add(r.id());
        }
      }
      return lost;
    }
  }

  @Override
  protected void disconnect() {
    dev.moaa.transforms.SharedResources.release(KIND, spec.key(), state);
  }

  @Override
  public long roundTrips() {
    return 0;
  }

  @Override
  public Map<String, Long> roundTripsByOperation() {
    return Map.of();
  }

  @Override
  public String toString() {
    return "local coordinator '" + spec.key() + "'";
  }

  private static final class Rate {
    double requestTat;
    double tokenTat;
    double tokenPer;
  }

  private static final class Held {
    final long microUsd;
    final long tokens;
    long expiry;

    Held(long microUsd, long tokens, long expiry) {
      this.microUsd = microUsd;
      this.tokens = tokens;
      this.expiry = expiry;
    }
  }

  private static final class State {
    final Map<String, Map<String, Long>> slots = new HashMap<>();
    final Map<String, Rate> rates = new HashMap<>();
    final Map<String, Long> holds = new HashMap<>();
    final Map<String, Double> adaptive = new HashMap<>();
    final Map<String, Held> reservations = new HashMap<>();
    long spentMicroUsd;
    long spentTokens;
    long reservedMicroUsd;
    long reservedTokens;
    boolean closed;
    long refused;

    void reclaimReservations(long now) {
      for (Iterator<Held> it = reservations.values().iterator(); it.hasNext(); ) {
        Held h = it.next();
        if (h.expiry <= now) {
          reservedMicroUsd -= h.microUsd;
          reservedTokens -= h.tokens;
          it.remove();
        }
      }
    }

    void unreserve(String id) {
      Held h = reservations.remove(id);
      if (h != null) {
        reservedMicroUsd -= h.microUsd;
        reservedTokens -= h.tokens;
      }
    }
  }
}

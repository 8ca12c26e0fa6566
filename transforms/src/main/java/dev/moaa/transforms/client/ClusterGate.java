package dev.moaa.transforms.client;

import dev.moaa.transforms.limits.CoordinationException;
import dev.moaa.transforms.limits.Coordinator;
import dev.moaa.transforms.limits.Slot;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Admits the requests of one model across every worker of a cluster, through a shared {@link
 * Coordinator}: every attempt (retries included) takes one of the model's cluster-wide slots
 * ({@code max_concurrency}, or the shared adaptive limit below it), waits out any shared
 * Retry-After hold, and is paced within {@code requests_per_minute} and {@code tokens_per_minute}
 * summed over the cluster; after the answer its real tokens correct the token pacing, a 429's
 * Retry-After holds every worker, and with adaptive concurrency a 429 cuts the shared limit once
 * (compare-and-set) however many workers saw it. It comes on top of the per-JVM {@link
 * RequestGate}, which still bounds this JVM.
 *
 * <p>When the store cannot be reached, {@link #enter} fails with {@link ErrorKind#COORDINATION}
 * (not retried): a call is never sent without the limits the user set.
 */
public final class ClusterGate {
  private static final Logger LOG = LoggerFactory.getLogger(ClusterGate.class);
  private static final Duration POLL = Duration.ofSeconds(30);

  private final Coordinator coordinator;
  private final ModelEndpoint endpoint;
  private final String model;
  private final AtomicBoolean releaseFailureSaid = new AtomicBoolean();

  public ClusterGate(Coordinator coordinator, ModelEndpoint endpoint) {
    this.coordinator = coordinator;
    this.endpoint = endpoint;
    this.model = endpoint.coordinationId();
  }

  /** A slot held by one admitted attempt, with the adaptive limit it was admitted under. */
  public record Ticket(Slot slot, double limitSeen, long estimatedTokens, boolean waited) {}

  /** Waits until an attempt estimated at {@code estimatedTokens} may be sent by this worker. */
  public Ticket enter(long estimatedTokens) throws ChatException, InterruptedException {
    RateLimits limits = endpoint.rateLimits();
    Slot slot = null;
    try {
      // The shared limit starts at max_concurrency, what the user says the endpoint allows for the
      // whole cluster; each JVM's own gate still starts low and ramps up. Starting the shared limit
      // at initial_concurrency and growing it by compare-and-set from many workers at once lost most
      // increments (W1 on two TaskManagers stayed at 13-14 of 32 in flight, 4.9x the bound).
      double seen = limits.adaptive()
          ? coordinator.adaptiveLimit(model, endpoint.maxConcurrency())
          : endpoint.maxConcurrency();
      int limit = Math.max(1, Math.min(endpoint.maxConcurrency(), (int) Math.floor(seen)));
      boolean waited = false;
      slot = coordinator.tryAcquireSlot(model, limit);
      while (slot == null) {
        waited = true;
        slot = coordinator.acquireSlot(model, limit, POLL);
      }
      long wait;
      while ((wait = coordinator.admitRate(model, limits.requestsPerMinute(), limits.tokensPerMinute(),
          estimatedTokens)) > 0) {
        Thread.sleep(wait);
      }
      return new Ticket(slot, seen, estimatedTokens, waited);
    } catch (CoordinationException e) {
      if (slot != null) {
        releaseQuietly(slot);
      }
      throw unreachable(e);
    } catch (RuntimeException e) {
      // a coordinator closed under the call (its worker's last lease went while the call waited)
      // or any other fault of the store's client: the call is not sent, and the slot goes back
      if (slot != null) {
        releaseQuietly(slot);
      }
      throw unreachable(e);
    } catch (InterruptedException e) {
      if (slot != null) {
        releaseQuietly(slot);
      }
      throw e;
    }
  }

  /**
   * Ends an admitted attempt: corrects the token pacing by {@code usedTokens} (-1 when unknown),
   * holds every worker for a 429's {@code retryAfterMs} (-1 when none), adapts the shared limit,
   * gives the slot back. A store that fails here is logged (the slot expires within the lease time
   * to live); the next {@link #enter} reports it.
   */
  public void exit(Ticket t, RequestGate.Result result, long usedTokens, long retryAfterMs) {
    RateLimits limits = endpoint.rateLimits();
    try {
      if (limits.tokensPerMinute() > 0 && usedTokens >= 0 && usedTokens != t.estimatedTokens()) {
        coordinator.correctTokens(model, usedTokens - t.estimatedTokens());
      }
      if (result == RequestGate.Result.RATE_LIMITED || result == RequestGate.Result.TIMEOUT) {
        if (retryAfterMs > 0) {
          coordinator.holdFor(model, Duration.ofMillis(retryAfterMs));
        }
        if (limits.adaptive()) {
          coordinator.compareAndSetAdaptiveLimit(model, t.limitSeen(),
              Math.max(1, t.limitSeen() * limits.backoffFactor()));
        }
      } else if (result == RequestGate.Result.SUCCESS && limits.adaptive() && t.waited()
          && t.limitSeen() < endpoint.maxConcurrency()) {
        // grows only while it is what holds requests back, by one per round of successes; from the
        // value now in the store, so that concurrent successes of other workers do not cancel it
        double now = coordinator.adaptiveLimit(model, endpoint.maxConcurrency());
        if (now < endpoint.maxConcurrency()) {
          coordinator.compareAndSetAdaptiveLimit(model, now, Math.min(endpoint.maxConcurrency(), now + 1 / now));
        }
      }
    } catch (CoordinationException e) {
      said(e);
    } finally {
      releaseQuietly(t.slot());
    }
  }

  private void releaseQuietly(Slot slot) {
    try {
      coordinator.release(slot);
    } catch (CoordinationException | IllegalStateException e) {
      said(e);
    }
  }

  private void said(RuntimeException e) {
    if (releaseFailureSaid.compareAndSet(false, true)) {
      LOG.warn("model {}: {} (its slot expires within {} ms)", endpoint.name(), e.getMessage(),
          coordinator.coordination().leaseTtlMs());
    }
  }

  /** The failure a call ends with when the coordination store cannot be reached. */
  public static ChatException unreachable(RuntimeException e) {
    String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    if (!m.contains("unreachable")) {
      m = "the coordination store is unreachable: " + m;
    }
    return new ChatException(ErrorKind.COORDINATION, 0, -1, 0,
        "not sent: " + m + "; calls stop rather than run without the shared limits and budget");
  }
}

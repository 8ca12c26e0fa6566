package dev.moaa.transforms.client;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Admits the requests of one model in one JVM: at most the current concurrency limit in flight,
 * within the requests-per-minute and tokens-per-minute buckets, and not while the endpoint has
 * asked to wait (Retry-After). Every attempt passes it, retries included.
 *
 * <p>With adaptive concurrency the limit follows the endpoint the way TCP follows a network: it
 * starts at the initial concurrency and grows by one per success (doubling per round) until the
 * first 429, then by one per round of successes; each 429 multiplies it by the backoff factor,
 * once per round (429s of requests sent before the last cut do not cut again). It grows only while
 * it is what holds requests back, and never passes {@code max_concurrency}.
 */
public final class RequestGate {
  /** How an admitted attempt ended. */
  public enum Result { SUCCESS, RATE_LIMITED, OTHER_FAILURE }

  /** An admitted attempt; hand it back to {@link #release}. */
  public static final class Permit {
    final long epoch;
    final long tokens;

    Permit(long epoch, long tokens) {
      this.epoch = epoch;
      this.tokens = tokens;
    }
  }

  /** What the gate has seen, for metrics and tests. */
  public record Stats(double limit, int inFlight, long admitted, long rateLimited, long cuts, double lowestLimit) {}

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final int max;
  private final RateLimits limits;
  private final Bucket requests;
  private final Bucket tokens;
  private double limit;
  private double threshold = Double.MAX_VALUE;
  private double lowest;
  private int inFlight;
  private int waiting;
  private long pausedUntil;
  private long epoch;
  private long admitted;
  private long rateLimited;
  private long cuts;

  public RequestGate(int maxConcurrency, RateLimits limits) {
    this.max = maxConcurrency;
    this.limits = limits;
    this.limit = limits.adaptive() ? Math.min(maxConcurrency, limits.initialConcurrency()) : maxConcurrency;
    this.lowest = limit;
    this.requests = limits.requestsPerMinute() > 0 ? new Bucket(limits.requestsPerMinute()) : null;
    this.tokens = limits.tokensPerMinute() > 0 ? new Bucket(limits.tokensPerMinute()) : null;
  }

  /** Waits until an attempt estimated at {@code estimatedTokens} may be sent. */
  public Permit acquire(long estimatedTokens) throws InterruptedException {
    lock.lock();
    try {
      waiting++;
      try {
        while (true) {
          long now = System.nanoTime();
          long waitNanos = admissionWait(estimatedTokens, now);
          if (waitNanos == 0) {
            return admit(estimatedTokens, now);
          }
          changed.awaitNanos(waitNanos);
        }
      } finally {
        waiting--;
      }
    } finally {
      lock.unlock();
    }
  }

  /** Admits an attempt if it may be sent now; null when it would have to wait. */
  public Permit tryAcquire(long estimatedTokens) {
    lock.lock();
    try {
      long now = System.nanoTime();
      return admissionWait(estimatedTokens, now) == 0 ? admit(estimatedTokens, now) : null;
    } finally {
      lock.unlock();
    }
  }

  /** Nanoseconds to wait before an attempt may go; 0 when it may go now. Holds the lock. */
  private long admissionWait(long estimatedTokens, long now) {
    if (pausedUntil - now > 0) {
      return pausedUntil - now;
    }
    if (inFlight >= Math.max(1, (int) Math.floor(limit))) {
      return TimeUnit.MILLISECONDS.toNanos(100);
    }
    long w = requests == null ? 0 : requests.waitFor(1, now);
    if (w > 0) {
      return w;
    }
    return tokens == null ? 0 : tokens.waitFor(estimatedTokens, now);
  }

  private Permit admit(long estimatedTokens, long now) {
    if (requests != null) {
      requests.take(1, now);
    }
    if (tokens != null) {
      tokens.take(estimatedTokens, now);
    }
    inFlight++;
    admitted++;
    return new Permit(epoch, estimatedTokens);
  }

  /**
   * Ends an attempt. {@code usedTokens} (or -1 when unknown) corrects the token bucket; {@code
   * retryAfterMs} (or -1) of a 429 holds every new attempt of this model back that long.
   */
  public void release(Permit permit, Result result, long usedTokens, long retryAfterMs) {
    lock.lock();
    try {
      // Grow only while the limit is what holds requests back: it was full, or someone is waiting.
      boolean wasFull = inFlight >= Math.floor(limit) || waiting > 0;
      inFlight--;
      if (tokens != null && usedTokens >= 0) {
        tokens.take(usedTokens - permit.tokens, System.nanoTime());
      }
      if (result == Result.RATE_LIMITED) {
        rateLimited++;
        if (retryAfterMs > 0) {
          pausedUntil = Math.max(pausedUntil, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(retryAfterMs));
        }
        if (limits.adaptive() && permit.epoch == epoch) {
          limit = Math.max(1, limit * limits.backoffFactor());
          threshold = limit;
          lowest = Math.min(lowest, limit);
          epoch++;
          cuts++;
        }
      } else if (result == Result.SUCCESS && limits.adaptive() && wasFull && limit < max) {
        limit = Math.min(max, limit < threshold ? limit + 1 : limit + 1 / limit);
      }
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  public Stats stats() {
    lock.lock();
    try {
      return new Stats(limit, inFlight, admitted, rateLimited, cuts, lowest);
    } finally {
      lock.unlock();
    }
  }

  /** A bucket refilled continuously at {@code perMinute}, holding at most ten seconds' worth. */
  private static final class Bucket {
    private final double perNano;
    private final double capacity;
    private double level;
    private long at;

    Bucket(long perMinute) {
      this.perNano = perMinute / 60e9;
      this.capacity = Math.max(1, perMinute / 6.0);
      this.level = capacity;
      this.at = System.nanoTime();
    }

    private void refill(long now) {
      level = Math.min(capacity, level + (now - at) * perNano);
      at = now;
    }

    /** Nanoseconds until {@code n} may be taken (an amount above capacity needs a full bucket). */
    long waitFor(long n, long now) {
      refill(now);
      double need = Math.min(n, capacity);
      return level >= need ? 0 : (long) Math.ceil((need - level) / perNano);
    }

    /** Takes {@code n} (may go below zero: the debt is paid back before the next admission). */
    void take(long n, long now) {
      refill(now);
      level -= n;
    }
  }
}

package dev.moaa.transforms.client;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;

/**
 * Admits the requests of one model in one JVM: at most the current concurrency limit in flight,
 * within the requests-per-minute and tokens-per-minute buckets, and not while the endpoint has
 * asked to wait (Retry-After). Every attempt passes it, retries included.
 *
 * <p>With adaptive concurrency the limit follows the endpoint the way TCP follows a network: it
 * starts at the initial concurrency and grows by one per success (doubling per round) until the
 * first 429, then by one per round of successes; each 429 multiplies it by the backoff factor,
 * once per round (429s of requests sent before the last cut do not cut again). A timed-out attempt
 * cuts it the same way: it must not be retried at the concurrency that made it time out. It grows
 * only while it is what holds requests back, and never passes {@code max_concurrency}. A limit that
 * starts at {@code max_concurrency} and meets 429s before any call succeeded falls at each of them to
 * the calls still in flight (what the endpoint took), not by the backoff factor once per round.
 *
 * <p>The gate times every attempt from admission to release. In the latency mode of {@link
 * AdaptiveLimit} (the default) it also cuts the limit when those times show the endpoint queueing
 * its calls, as self-hosted servers do instead of answering 429; then slow start doubles the limit
 * at most once per latency reading, and growth pauses while a reading is high or a cut is being
 * checked. {@link LatencyLimit} says how.
 */
public final class RequestGate {
  /** How an admitted attempt ended. */
  public enum Result {
    SUCCESS,
    RATE_LIMITED,
    OTHER_FAILURE,
    /** The endpoint did not answer in time (read timeout): cuts the limit as a 429 does. */
    TIMEOUT
  }

  /** An admitted attempt; hand it back to {@link #release}. */
  public static final class Permit {
    final long epoch;
    final long tokens;
    final long admittedAt;
    final LatencyLimit.Ticket reading;
    /** When the request went out, if {@link #sending} said so; else its admission counts. */
    volatile long sentAt;
    volatile boolean sent;

    Permit(long epoch, long tokens, long admittedAt, LatencyLimit.Ticket reading) {
      this.epoch = epoch;
      this.tokens = tokens;
      this.admittedAt = admittedAt;
      this.reading = reading;
    }
  }

  /**
   * What the gate has seen, for metrics and tests: the current and lowest limit, the attempts in
   * flight, admitted, rate-limited and timed out, the cuts (all causes) and those made on latency,
   * the no-load latency baseline and the latest latency reading (milliseconds; NaN before the first
   * reading). Latency is read in every mode; it moves the limit only in the latency mode.
   */
  public record Stats(double limit, int inFlight, long admitted, long rateLimited, long cuts, double lowestLimit,
      long timedOut, long latencyCuts, double baselineLatencyMs, double recentLatencyMs) {}

  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  private final int max;
  private final RateLimits limits;
  private final LongSupplier clock;
  private final LatencyLimit latency;
  private final Bucket requests;
  private final Bucket tokens;
  private double limit;
  private double threshold = Double.MAX_VALUE;
  /** The limit started at max_concurrency and no call has succeeded yet. */
  private boolean topBurst;
  private double lowest;
  private int inFlight;
  private int waiting;
  private long pausedUntil;
  private long epoch;
  private long admitted;
  private long rateLimited;
  private long timedOut;
  private long cuts;

  public RequestGate(int maxConcurrency, RateLimits limits) {
    this(maxConcurrency, limits, System::nanoTime);
  }

  /** For tests: {@code clock} in place of {@link System#nanoTime()} (waiting in acquire stays real). */
  RequestGate(int maxConcurrency, RateLimits limits, LongSupplier clock) {
    this.max = maxConcurrency;
    this.limits = limits;
    this.clock = clock;
    this.limit = limits.adaptive() ? Math.min(maxConcurrency, limits.initialConcurrency()) : maxConcurrency;
    this.lowest = limit;
    long now = clock.getAsLong();
    this.topBurst = limits.adaptive() && limit >= max && max > 1;
    this.latency = new LatencyLimit(limits.adaptiveLimit(), limits.adaptive(), limit, topBurst);
    this.requests = limits.requestsPerMinute() > 0 ? new Bucket(limits.requestsPerMinute(), now) : null;
    this.tokens = limits.tokensPerMinute() > 0 ? new Bucket(limits.tokensPerMinute(), now) : null;
  }

  /** Waits until an attempt estimated at {@code estimatedTokens} may be sent. */
  public Permit acquire(long estimatedTokens) throws InterruptedException {
    lock.lock();
    try {
      waiting++;
      try {
        while (true) {
          long now = clock.getAsLong();
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
      long now = clock.getAsLong();
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
    return new Permit(epoch, estimatedTokens, now, latency.admit(now, inFlight, limit));
  }

  /**
   * Says that an admitted attempt goes out now, after a wait of its own that is not the endpoint's
   * (a slot of the limit shared with other workers): its latency is timed from here, not from its
   * admission. Without it, waiting for the cluster's slots would read as the server queueing, and
   * each worker would cut its limit as soon as the shared one binds.
   */
  public void sending(Permit permit) {
    permit.sentAt = clock.getAsLong();
    permit.sent = true;
  }

  /**
   * Ends an attempt. {@code usedTokens} (or -1 when unknown) corrects the token bucket; {@code
   * retryAfterMs} (or -1) of a 429 holds every new attempt of this model back that long. The time
   * since {@link #acquire} (or since {@link #sending}, when called) is the attempt's latency, read
   * when it succeeded or timed out.
   */
  public void release(Permit permit, Result result, long usedTokens, long retryAfterMs) {
    lock.lock();
    try {
      long now = clock.getAsLong();
      // Grow only while the limit is what holds requests back: it was full, or someone is waiting.
      boolean wasFull = inFlight >= Math.floor(limit) || waiting > 0;
      inFlight--;
      if (tokens != null && usedTokens >= 0) {
        tokens.take(usedTokens - permit.tokens, now);
      }
      boolean counted = result == Result.SUCCESS || result == Result.TIMEOUT;
      boolean moved = follow(latency.ended(limit, permit.reading, counted, now - (permit.sent ? permit.sentAt : permit.admittedAt), now));
      switch (result) {
        case RATE_LIMITED -> {
          rateLimited++;
          if (retryAfterMs > 0) {
            pausedUntil = Math.max(pausedUntil, now + TimeUnit.MILLISECONDS.toNanos(retryAfterMs));
          }
          if (limits.adaptive() && topBurst) {
            // The limit started at max_concurrency and the endpoint turned calls away before any
            // call came back: it holds what is still in flight. Each 429 of that first burst
            // brings the limit down to it, rather than by the backoff factor once per round.
            double to = Math.max(1, inFlight);
            if (to < limit) {
              if (permit.epoch == epoch) {
                cut(to);
              } else {
                lower(to); // a 429 of the same round: the round's cut goes further, still one cut
              }
              latency.cutElsewhere(limit);
            }
          } else {
            cutOncePerRound(permit);
          }
        }
        case TIMEOUT -> {
          timedOut++;
          cutOncePerRound(permit);
        }
        case SUCCESS -> {
          topBurst = false;
          if (!moved && limits.adaptive() && wasFull && limit < max) {
            boolean slowStart = limit < threshold;
            double grown = Math.min(slowStart ? limit + 1 : limit + 1 / limit, latency.growthCap(slowStart));
            limit = Math.min(max, Math.max(limit, grown));
          }
        }
        case OTHER_FAILURE -> { }
      }
      changed.signalAll();
    } finally {
      lock.unlock();
    }
  }

  /** Multiplies the limit by the backoff factor, unless an attempt sent since the last cut did so. */
  private void cutOncePerRound(Permit permit) {
    if (limits.adaptive() && permit.epoch == epoch) {
      cut(Math.max(1, limit * limits.backoffFactor()));
      latency.cutElsewhere(limit);
    }
  }

  private void cut(double to) {
    lower(to);
    epoch++;
    cuts++;
  }

  private void lower(double to) {
    limit = to;
    threshold = limit;
    lowest = Math.min(lowest, limit);
  }

  /** Takes the limit a latency reading set; whether it moved. */
  private boolean follow(double read) {
    double before = limit;
    if (read < limit) {
      if (latency.probing()) {
        limit = read;
      } else {
        cut(read);
      }
    } else if (read > limit) {
      limit = Math.min(max, read); // a probe ended, or a cut the latency did not bear out undone
    }
    return limit != before;
  }

  public Stats stats() {
    lock.lock();
    try {
      return new Stats(limit, inFlight, admitted, rateLimited, cuts, lowest, timedOut, latency.cuts(),
          latency.baselineMs(), latency.recentMs());
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

    Bucket(long perMinute, long now) {
      this.perNano = perMinute / 60e9;
      this.capacity = Math.max(1, perMinute / 6.0);
      this.level = capacity;
      this.at = now;
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

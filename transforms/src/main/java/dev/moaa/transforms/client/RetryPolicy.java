package dev.moaa.transforms.client;

import java.io.Serializable;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Bounded retries with exponential backoff and jitter. Attempt 1 is the first try; the wait before
 * attempt {@code n+1} is drawn uniformly from [cap/2, cap] where cap = min(max, initial·2^(n-1)).
 * A server's Retry-After, when longer, wins. {@code maxAttempts} counts the attempts that failed
 * for any reason but a 429: a 429 asks the caller to wait, and the waits of one call are bounded by
 * {@code maxRateLimitWaitMs} in total instead.
 */
public final class RetryPolicy implements Serializable {
  private static final long serialVersionUID = 1L;

  private final int maxAttempts;
  private final long initialBackoffMs;
  private final long maxBackoffMs;
  private final long maxRateLimitWaitMs;

  /** The default bound on one call's waits after 429s: five minutes. */
  public static final long DEFAULT_MAX_RATE_LIMIT_WAIT_MS = 300_000;

  private RetryPolicy(int maxAttempts, long initialBackoffMs, long maxBackoffMs, long maxRateLimitWaitMs) {
    if (maxAttempts < 1) {
      throw new IllegalArgumentException("max_attempts must be at least 1, got " + maxAttempts);
    }
    if (initialBackoffMs < 0 || maxBackoffMs < initialBackoffMs) {
      throw new IllegalArgumentException(
          "backoff must satisfy 0 <= initial_backoff_ms <= max_backoff_ms, got "
              + initialBackoffMs + " and " + maxBackoffMs);
    }
    this.maxAttempts = maxAttempts;
    this.initialBackoffMs = initialBackoffMs;
    this.maxBackoffMs = maxBackoffMs;
    if (maxRateLimitWaitMs < 0) {
      throw new IllegalArgumentException("max_rate_limit_wait_ms must not be negative, got " + maxRateLimitWaitMs);
    }
    this.maxRateLimitWaitMs = maxRateLimitWaitMs;
  }

  public static RetryPolicy of(int maxAttempts, long initialBackoffMs, long maxBackoffMs) {
    return new RetryPolicy(maxAttempts, initialBackoffMs, maxBackoffMs, DEFAULT_MAX_RATE_LIMIT_WAIT_MS);
  }

  public static RetryPolicy of(int maxAttempts, long initialBackoffMs, long maxBackoffMs, long maxRateLimitWaitMs) {
    return new RetryPolicy(maxAttempts, initialBackoffMs, maxBackoffMs, maxRateLimitWaitMs);
  }

  /** Five attempts, 500 ms doubling to at most 20 s. */
  public static RetryPolicy defaults() {
    return new RetryPolicy(5, 500, 20_000, DEFAULT_MAX_RATE_LIMIT_WAIT_MS);
  }

  public int maxAttempts() {
    return maxAttempts;
  }

  public long initialBackoffMs() {
    return initialBackoffMs;
  }

  public long maxBackoffMs() {
    return maxBackoffMs;
  }

  /** How long one call may wait in all after 429s before it fails as rate limited. */
  public long maxRateLimitWaitMs() {
    return maxRateLimitWaitMs;
  }

  /** How long to wait after failed attempt {@code attempt} (1-based). */
  public long backoffMs(int attempt, long retryAfterMs) {
    long cap = initialBackoffMs;
    for (int i = 1; i < attempt && cap < maxBackoffMs; i++) {
      cap = Math.min(maxBackoffMs, cap * 2);
    }
    long jittered = cap <= 1 ? cap : cap / 2 + ThreadLocalRandom.current().nextLong(cap / 2 + 1);
    return Math.max(jittered, Math.max(0, retryAfterMs));
  }

  @Override
  public String toString() {
    return "RetryPolicy{maxAttempts=" + maxAttempts + ", initialBackoffMs=" + initialBackoffMs
        + ", maxBackoffMs=" + maxBackoffMs + ", maxRateLimitWaitMs=" + maxRateLimitWaitMs + "}";
  }
}

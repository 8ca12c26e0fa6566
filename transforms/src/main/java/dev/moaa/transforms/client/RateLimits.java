package dev.moaa.transforms.client;

import java.io.Serializable;
import java.util.Objects;

/**
 * A model's request limits beyond {@code max_concurrency}: requests and tokens per minute (0 = no
 * limit), and whether concurrency adapts to the endpoint (it halves, by {@code backoffFactor}, on a
 * 429 or a timeout and creeps back up on success, never above {@code max_concurrency}); {@link
 * #adaptiveLimit()} says whether it also backs off when the endpoint's latency shows a queue.
 */
public final class RateLimits implements Serializable {
  private static final long serialVersionUID = 1L;

  private final int requestsPerMinute;
  private final long tokensPerMinute;
  private final boolean adaptive;
  private final double backoffFactor;
  private final int initialConcurrency;
  private final AdaptiveLimit adaptiveLimit;

  private RateLimits(int requestsPerMinute, long tokensPerMinute, boolean adaptive, double backoffFactor,
      int initialConcurrency, AdaptiveLimit adaptiveLimit) {
    if (requestsPerMinute < 0 || tokensPerMinute < 0) {
      throw new IllegalArgumentException("rate limits must not be negative");
    }
    if (!(backoffFactor > 0 && backoffFactor < 1)) {
      throw new IllegalArgumentException("backoff_factor must be between 0 and 1 (exclusive), got " + backoffFactor);
    }
    if (initialConcurrency < 1) {
      throw new IllegalArgumentException("initial_concurrency must be at least 1, got " + initialConcurrency);
    }
    this.requestsPerMinute = requestsPerMinute;
    this.tokensPerMinute = tokensPerMinute;
    this.adaptive = adaptive;
    this.backoffFactor = backoffFactor;
    this.initialConcurrency = initialConcurrency;
    this.adaptiveLimit = Objects.requireNonNull(adaptiveLimit, "adaptiveLimit");
  }

  /**
   * No per-minute limits; adaptive concurrency starting at 8, backing off by 0.7 on a 429 or a
   * timeout, and latency-aware ({@link AdaptiveLimit#defaults()}).
   */
  public static RateLimits defaults() {
    return new RateLimits(0, 0, true, 0.7, 8, AdaptiveLimit.defaults());
  }

  /** These limits, with {@link AdaptiveLimit#defaults()}. */
  public static RateLimits of(int requestsPerMinute, long tokensPerMinute, boolean adaptive,
      double backoffFactor, int initialConcurrency) {
    return new RateLimits(requestsPerMinute, tokensPerMinute, adaptive, backoffFactor, initialConcurrency,
        AdaptiveLimit.defaults());
  }

  /** A copy that adapts as {@code v} says. */
  public RateLimits withAdaptiveLimit(AdaptiveLimit v) {
    return new RateLimits(requestsPerMinute, tokensPerMinute, adaptive, backoffFactor, initialConcurrency, v);
  }

  public int requestsPerMinute() { return requestsPerMinute; }
  public long tokensPerMinute() { return tokensPerMinute; }
  public boolean adaptive() { return adaptive; }
  public double backoffFactor() { return backoffFactor; }
  public int initialConcurrency() { return initialConcurrency; }

  /** How the adaptive limit reads the endpoint (defaults for an instance serialized before it existed). */
  public AdaptiveLimit adaptiveLimit() {
    return adaptiveLimit != null ? adaptiveLimit : AdaptiveLimit.defaults();
  }

  String sharingKey() {
    return requestsPerMinute + "/" + tokensPerMinute + "/" + adaptive + "/" + backoffFactor + "/" + initialConcurrency
        + "/" + adaptiveLimit().sharingKey();
  }

  @Override
  public String toString() {
    return "RateLimits{rpm=" + requestsPerMinute + ", tpm=" + tokensPerMinute + ", adaptive=" + adaptive
        + ", backoff=" + backoffFactor + ", initial=" + initialConcurrency + ", " + adaptiveLimit() + "}";
  }
}

package dev.moaa.transforms.client;

import java.io.Serializable;

/**
 * How a model's calls go through a provider's Batch API ({@code execution: batch}): they are
 * collected into batch files of at most {@code maxRequests} requests (sent when that many wait, or
 * {@code flushMs} after the first one), polled every {@code pollMs}, and billed at {@code
 * priceFactor} times the online price (providers' batch price is about half). A request that a
 * batch failed or left unanswered (expired) goes into a later batch, at most {@code maxSubmissions}
 * times in all.
 */
public record BatchSettings(double priceFactor, int maxRequests, long flushMs, long pollMs, int maxSubmissions)
    implements Serializable {
  /** The OpenAI limit of requests per batch file. */
  public static final int MAX_REQUESTS = 50_000;

  public BatchSettings {
    if (!(priceFactor > 0 && priceFactor <= 1)) {
      throw new IllegalArgumentException("batch price_factor must be within (0, 1], got " + priceFactor);
    }
    if (maxRequests < 1 || maxRequests > MAX_REQUESTS) {
      throw new IllegalArgumentException("batch max_requests must be from 1 to " + MAX_REQUESTS);
    }
    if (flushMs < 0 || pollMs < 1 || maxSubmissions < 1) {
      throw new IllegalArgumentException("batch flush_ms must not be negative, poll_ms and max_submissions positive");
    }
  }

  /** Half the online price, batches of up to 2,000 requests sent 2 s after their first, polled every 30 s. */
  public static BatchSettings defaults() {
    return new BatchSettings(0.5, 2000, 2000, 30_000, 5);
  }
}

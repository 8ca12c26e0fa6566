package dev.moaa.transforms.client;

import java.io.Serializable;
import java.util.Locale;

/**
 * How an adaptive concurrency limit reads the endpoint (it adapts only when {@link
 * RateLimits#adaptive()} is on).
 *
 * <ul>
 *   <li>{@link Mode#AIMD}: only 429s and timeouts cut the limit; it grows on success. An endpoint
 *       that queues instead of answering 429 (vLLM, TGI, {@code transformers serve}) never slows it
 *       down: the limit climbs to {@code max_concurrency} and the calls wait in the server's queue.
 *   <li>{@link Mode#LATENCY} (the default): the same, and the gate also watches how long its calls
 *       take. When the recent median latency passes {@code tolerance} times the no-load baseline,
 *       requests are queueing, and the limit drops to what the server served without a queue.
 * </ul>
 *
 * <p>{@code window} is the least number of successful calls whose median is one latency reading
 * (a reading also spans at least the current limit's worth of calls).
 */
public final class AdaptiveLimit implements Serializable {
  private static final long serialVersionUID = 1L;

  /** What moves the limit. */
  public enum Mode {
    AIMD, LATENCY;

    /** {@code aimd} or {@code latency}, any case. */
    public static Mode parse(String s) {
      try {
        return valueOf(s.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("adaptive mode must be aimd or latency, got '" + s + "'");
      }
    }

    public String wireName() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  private final Mode mode;
  private final double tolerance;
  private final int window;

  private AdaptiveLimit(Mode mode, double tolerance, int window) {
    if (mode == null) {
      throw new IllegalArgumentException("adaptive mode must be aimd or latency");
    }
    if (!(tolerance > 1 && tolerance <= 10)) {
      throw new IllegalArgumentException("latency_tolerance must be above 1 and at most 10, got " + tolerance);
    }
    if (window < 4 || window > 10_000) {
      throw new IllegalArgumentException("latency_window must be between 4 and 10000 calls, got " + window);
    }
    this.mode = mode;
    this.tolerance = tolerance;
    this.window = window;
  }

  /** Latency-aware, tolerance 1.5, readings of at least 16 calls. */
  public static AdaptiveLimit defaults() {
    return latency();
  }

  /** Latency-aware: tolerance 1.5, readings of at least 16 calls. */
  public static AdaptiveLimit latency() {
    return new AdaptiveLimit(Mode.LATENCY, 1.5, 16);
  }

  /** 429s and timeouts only. */
  public static AdaptiveLimit aimd() {
    return new AdaptiveLimit(Mode.AIMD, 1.5, 16);
  }

  public static AdaptiveLimit of(Mode mode, double tolerance, int window) {
    return new AdaptiveLimit(mode, tolerance, window);
  }

  public AdaptiveLimit withMode(Mode v) { return new AdaptiveLimit(v, tolerance, window); }
  public AdaptiveLimit withTolerance(double v) { return new AdaptiveLimit(mode, v, window); }
  public AdaptiveLimit withWindow(int v) { return new AdaptiveLimit(mode, tolerance, v); }

  public Mode mode() { return mode; }
  public double tolerance() { return tolerance; }
  public int window() { return window; }

  String sharingKey() {
    return mode.wireName() + "/" + tolerance + "/" + window;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof AdaptiveLimit a && a.mode == mode && a.tolerance == tolerance && a.window == window;
  }

  @Override
  public int hashCode() {
    return sharingKey().hashCode();
  }

  @Override
  public String toString() {
    return "AdaptiveLimit{mode=" + mode.wireName() + ", tolerance=" + tolerance + ", window=" + window + "}";
  }
}

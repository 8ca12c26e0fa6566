package dev.moaa.runners.sim;

import java.util.Locale;

/**
 * How the simulated endpoint spreads the latency of admitted requests around the configured value.
 *
 * <p>{@link #LONG_TAIL} is a log-normal distribution whose median is the configured latency and
 * whose 99th percentile is ten times the median, as the generation times of real endpoints are
 * (most answers are short, a few run long): {@code sigma = ln(10) / z(0.99) = ln(10) / 2.3263}.
 * Draws above {@value #TAIL_CAP_MEDIANS} medians are cut to that, so one request cannot stall a run.
 * The draw is deterministic: two uniform numbers read from the SHA-256 of (seed, request body,
 * attempt) go through the Box–Muller transform, so a rerun of the same workload waits the same.
 */
public enum LatencyShape {
  /** Every admitted request waits exactly the configured latency. */
  FIXED,
  /** Log-normal around the configured median, p99 = 10 × median, capped at 30 × median. */
  LONG_TAIL;

  /** The z-score of the 99th percentile of the standard normal distribution. */
  static final double Z99 = 2.3263478740408408;

  /** The log-normal sigma that puts p99 at ten times the median. */
  public static final double SIGMA = Math.log(10) / Z99;

  /** The longest a long-tailed draw may be, in medians. */
  public static final int TAIL_CAP_MEDIANS = 30;

  /** Reads {@code fixed} or {@code longtail} (also {@code long-tail}, {@code long_tail}). */
  public static LatencyShape parse(String text) {
    String t = text.trim().toLowerCase(Locale.ROOT).replace("-", "").replace("_", "");
    return switch (t) {
      case "fixed" -> FIXED;
      case "longtail" -> LONG_TAIL;
      default -> throw new IllegalArgumentException(
          "latency shape must be fixed or longtail, got '" + text + "'");
    };
  }

  /** The name used on the command line. */
  public String flag() {
    return this == FIXED ? "fixed" : "longtail";
  }

  /**
   * The latency in ms for a configured median and two uniform numbers in [0, 1). FIXED returns
   * the median itself.
   */
  long draw(long medianMs, double u1, double u2) {
    if (this == FIXED || medianMs <= 0) {
      return medianMs;
    }
    // Box–Muller: 1 - u1 lies in (0, 1], so the logarithm is finite.
    double z = Math.sqrt(-2.0 * Math.log(1.0 - u1)) * Math.cos(2.0 * Math.PI * u2);
    double ms = medianMs * Math.exp(SIGMA * z);
    return Math.round(Math.min(ms, (double) TAIL_CAP_MEDIANS * medianMs));
  }

  /**
   * The expected latency of one draw, in ms: the median itself for FIXED; for LONG_TAIL the mean
   * of the log-normal cut at {@value #TAIL_CAP_MEDIANS} medians, {@code E[min(X, c)] =
   * m·e^(s²/2)·Φ((ln(c/m) − s²)/s) + c·(1 − Φ(ln(c/m)/s))}, about 1.63 × the median.
   */
  public double meanMs(double medianMs) {
    if (this == FIXED || medianMs <= 0) {
      return medianMs;
    }
    double s = SIGMA;
    double lnCap = Math.log(TAIL_CAP_MEDIANS);
    return medianMs * (Math.exp(s * s / 2) * normalCdf((lnCap - s * s) / s)
        + TAIL_CAP_MEDIANS * (1 - normalCdf(lnCap / s)));
  }

  /** The standard normal CDF through erf (Abramowitz and Stegun 7.1.26, error below 1.5e-7). */
  static double normalCdf(double x) {
    double t = Math.abs(x) / Math.sqrt(2);
    double k = 1 / (1 + 0.3275911 * t);
    double poly = k * (0.254829592 + k * (-0.284496736 + k * (1.421413741
        + k * (-1.453152027 + k * 1.061405429))));
    double erf = 1 - poly * Math.exp(-t * t);
    return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
  }
}

package dev.moaa.runners.sim;

/**
 * Decides, deterministically, what goes wrong with one attempt of one request body.
 *
 * <p>Attempt {@code n} of a body draws {@code u = uniform(sha256(seed, bodyHash, n))} and the
 * configured rates are laid out as consecutive bands of [0, 1): rate limited (a 429 answered at
 * once, whatever the load), then server error, then timeout, then malformed body, then empty
 * answer. A later attempt draws a fresh {@code u}, so a client that retries an identical request
 * eventually gets through unless every rate adds up to 1, and the faults mix across attempts: one
 * body may meet a 429, then a 5xx, then a stall before it is answered.
 *
 * <p>Whether a successful answer leaves out its {@code usage} is a separate draw from {@code
 * sha256("no-usage", seed, bodyHash, n)}, independent of the fault.
 */
final class FaultPlan {

  /** What the endpoint does with one attempt. */
  enum Fault {
    NONE,
    RATE_LIMITED,
    SERVER_ERROR,
    TIMEOUT,
    MALFORMED,
    EMPTY
  }

  /** The fault and the HTTP status to answer with: 429, 500/502/503, or 200 for the others. */
  record Decision(Fault fault, int status) {}

  private final SimulatedEndpoint.Settings settings;

  FaultPlan(SimulatedEndpoint.Settings settings) {
    this.settings = settings;
  }

  Decision decide(String bodyHash, int attempt) {
    double u = SimHashing.uniform("fault|" + settings.seed() + "|" + bodyHash + "|" + attempt);
    double edge = settings.rate429();
    if (u < edge) {
      return new Decision(Fault.RATE_LIMITED, 429);
    }
    edge += settings.rate5xx();
    if (u < edge) {
      return new Decision(Fault.SERVER_ERROR, serverErrorStatus(bodyHash, attempt));
    }
    edge += settings.rateTimeout();
    if (u < edge) {
      return new Decision(Fault.TIMEOUT, 200);
    }
    edge += settings.rateMalformed();
    if (u < edge) {
      return new Decision(Fault.MALFORMED, 200);
    }
    edge += settings.rateEmpty();
    if (u < edge) {
      return new Decision(Fault.EMPTY, 200);
    }
    return new Decision(Fault.NONE, 200);
  }

  /** Whether a successful answer to this attempt is sent without its {@code usage} object. */
  boolean omitsUsage(String bodyHash, int attempt) {
    return settings.rateNoUsage() > 0
        && SimHashing.uniform("no-usage|" + settings.seed() + "|" + bodyHash + "|" + attempt)
            < settings.rateNoUsage();
  }

  /**
   * The simulated latency of one attempt: the configured latency, drawn from the long tail when
   * the settings ask for it, plus a uniform share of the jitter.
   */
  long latencyMs(String bodyHash, int attempt) {
    long base = settings.latencyMs();
    if (settings.latencyShape() != LatencyShape.FIXED) {
      String material = settings.seed() + "|" + bodyHash + "|" + attempt;
      base = settings.latencyShape().draw(base,
          SimHashing.uniform("latency-a|" + material), SimHashing.uniform("latency-b|" + material));
    }
    long jitter = settings.latencyJitterMs();
    if (jitter <= 0) {
      return base;
    }
    double u = SimHashing.uniform("jitter|" + settings.seed() + "|" + bodyHash + "|" + attempt);
    return base + (long) Math.floor(u * (jitter + 1));
  }

  /** Mostly 500, sometimes 502 or 503, picked from a separate draw. */
  private int serverErrorStatus(String bodyHash, int attempt) {
    double v = SimHashing.uniform("status|" + settings.seed() + "|" + bodyHash + "|" + attempt);
    if (v < 0.6) {
      return 500;
    }
    return v < 0.8 ? 502 : 503;
  }
}

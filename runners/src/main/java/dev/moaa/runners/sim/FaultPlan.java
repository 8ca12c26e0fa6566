package dev.moaa.runners.sim;

/**
 * Decides, deterministically, what goes wrong with one attempt of one request body.
 *
 * <p>Attempt {@code n} of a body draws {@code u = uniform(sha256(seed, bodyHash, n))} and the
 * configured rates are laid out as consecutive bands of [0, 1): server error, then timeout, then
 * malformed body, then empty answer. A later attempt draws a fresh {@code u}, so a client that
 * retries an identical request eventually gets through unless every rate adds up to 1.
 */
final class FaultPlan {

  /** What the endpoint does with one attempt. */
  enum Fault {
    NONE,
    SERVER_ERROR,
    TIMEOUT,
    MALFORMED,
    EMPTY
  }

  /** The fault and, for server errors, the HTTP status to answer with; 200 otherwise. */
  record Decision(Fault fault, int status) {}

  private final SimulatedEndpoint.Settings settings;

  FaultPlan(SimulatedEndpoint.Settings settings) {
    this.settings = settings;
  }

  Decision decide(String bodyHash, int attempt) {
    double u = SimHashing.uniform("fault|" + settings.seed() + "|" + bodyHash + "|" + attempt);
    double edge = settings.rate5xx();
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

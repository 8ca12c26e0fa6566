package dev.moaa.runners.bench;

import java.util.Locale;

/**
 * The workloads of the benchmark suite and their defaults. W1 and W2 run the SFT
 * pipeline, W3 the DPO pipeline, W4 measures the pipeline's own overhead against a plain load
 * generator on the same simulator.
 */
public enum Workload {
  /** 2,000 single-turn prompts, 4 proposers + 1 aggregator, L = 500 ms, C = 32. */
  W1(false, 2000, 500, 32, 1, 0.0),
  /** As W1 with 2 layers and 30% two-turn conversations. */
  W2(false, 2000, 500, 32, 2, 0.3),
  /** DPO: 500 prompts, K = 5, all pairs, moa judge (3 judges + a lead judge), L = 300 ms, C = 64. */
  W3(true, 500, 300, 64, 1, 0.0),
  /**
   * Overhead: W1's topology at L = 0 with no cap on the endpoint. 10,000 prompts (50,000 calls):
   * at L = 0, 2,000 prompts' calls are over in about 3 s, most of it the JIT and the pools warming
   * up, too short to tell what the pipeline sustains next to the load generator's 10 s.
   */
  W4(false, 10000, 0, 0, 1, 0.0);

  /** Policy samples per prompt in W3. */
  public static final int DPO_K = 5;
  /** Judges (besides the lead judge) in W3. */
  public static final int DPO_JUDGES = 3;
  /** Proposer models in W1, W2 and W4. */
  public static final int PROPOSERS = 4;
  /** The per-model {@code max_concurrency} of W4's config (its endpoint has no cap). */
  public static final int W4_ALLOWED = 32;

  private final boolean dpo;
  private final int prompts;
  private final int latencyMs;
  private final int cap;
  private final int layers;
  private final double twoTurnShare;

  Workload(boolean dpo, int prompts, int latencyMs, int cap, int layers, double twoTurnShare) {
    this.dpo = dpo;
    this.prompts = prompts;
    this.latencyMs = latencyMs;
    this.cap = cap;
    this.layers = layers;
    this.twoTurnShare = twoTurnShare;
  }

  public static Workload parse(String text) {
    try {
      return valueOf(text.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("--workload must be W1, W2, W3 or W4, got '" + text + "'");
    }
  }

  public boolean dpo() {
    return dpo;
  }

  public int defaultPrompts() {
    return prompts;
  }

  public int defaultLatencyMs() {
    return latencyMs;
  }

  /** The endpoint's in-flight cap per model; 0 = none. */
  public int defaultCap() {
    return cap;
  }

  public int layers() {
    return layers;
  }

  public double twoTurnShare() {
    return twoTurnShare;
  }
}

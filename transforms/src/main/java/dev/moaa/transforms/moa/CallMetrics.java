package dev.moaa.transforms.moa;

import dev.moaa.schemas.Call;
import dev.moaa.transforms.client.ModelEndpoint;
import java.io.Closeable;
import java.io.IOException;
import java.io.Serializable;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Distribution;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.metrics.MetricsContainer;
import org.apache.beam.sdk.metrics.MetricsEnvironment;

/**
 * The per-model Beam metrics of finished calls (namespace {@value #NAMESPACE}): {@code
 * calls} (every call, answered from the cache or not), {@code cache_hits}, {@code budget_refused}
 * (calls the budget did not let out), and of the calls sent {@code requests} (every request sent,
 * retries included), {@code failures} (calls that failed after their retries, budget refusals
 * not counted), {@code retries} (every retried attempt), {@code rate_limited} (attempts answered
 * 429, a part of the retries and failures), {@code prompt_tokens} and {@code completion_tokens}
 * (billed over every answered attempt, failed calls included), {@code reasoning_tokens}, {@code
 * usage_estimated} (calls whose tokens are partly estimated), {@code latency_ms}; for models whose
 * limits are shared through a coordination store, {@code coordination_calls} (calls sent) and
 * {@code coordination_round_trips} (round trips to the store, heartbeats included), run-wide.
 *
 * <p>Each call is counted once, as it ends (not when its conversation or prompt is emitted), so a
 * run shows per-model progress while its chains are still under way. Beam's metric containers are
 * per thread and a call ends on a pool thread: the DoFn hands over the container of its own thread
 * ({@link #currentContainer()} in {@code @StartBundle} / {@code @ProcessElement}) and the call is
 * recorded inside it ({@link #record(Call, MetricsContainer)}). The runners' containers take
 * updates from any thread (their cells are atomic); a chain never outlives its bundle, so the
 * container is still the bundle's when its calls end.
 */
public final class CallMetrics implements Serializable {
  private static final long serialVersionUID = 1L;
  /** The namespace of every metric of the product's calls and chains. */
  public static final String NAMESPACE = "moaa";

  private final Counter calls;
  private final Counter failures;
  private final Counter retries;
  private final Counter rateLimited;
  private final Counter promptTokens;
  private final Counter completionTokens;
  private final Counter cacheHits;
  private final Counter requests;
  private final Counter budgetRefused;
  private final Counter reasoningTokens;
  private final Counter usageEstimated;
  private final Distribution latency;
  private final Counter coordinationCalls;
  private final Counter coordinationTrips;

  public CallMetrics(ModelEndpoint endpoint) {
    String m = endpoint.name();
    String ns = NAMESPACE;
    this.calls = LiveCounters.counter("calls/" + m);
    this.failures = LiveCounters.counter("failures/" + m);
    this.retries = LiveCounters.counter("retries/" + m);
    this.rateLimited = LiveCounters.counter("rate_limited/" + m);
    this.promptTokens = LiveCounters.counter("prompt_tokens/" + m);
    this.completionTokens = LiveCounters.counter("completion_tokens/" + m);
    this.cacheHits = LiveCounters.counter("cache_hits/" + m);
    this.latency = Metrics.distribution(ns, "latency_ms/" + m);
    this.requests = LiveCounters.counter("requests/" + m);
    this.budgetRefused = LiveCounters.counter("budget_refused/" + m);
    this.reasoningTokens = LiveCounters.counter("reasoning_tokens/" + m);
    this.usageEstimated = LiveCounters.counter("usage_estimated/" + m);
    this.coordinationCalls = LiveCounters.counter(COORDINATION_CALLS);
    this.coordinationTrips = LiveCounters.counter(COORDINATION_ROUND_TRIPS);
  }

  /** Calls sent under shared limits, all models together (no slash: not a per-model figure). */
  public static final String COORDINATION_CALLS = "coordination_calls";
  /** Round trips to the coordination store, every worker together. */
  public static final String COORDINATION_ROUND_TRIPS = "coordination_round_trips";

  /** The metrics container of the calling thread (a DoFn's), or null outside one. */
  public static MetricsContainer currentContainer() {
    return MetricsEnvironment.getCurrentContainer();
  }

  /**
   * Records a finished call into {@code container} (from whichever thread the call ended on), and
   * what the call's lease made in round trips to the coordination store since last asked.
   */
  public void record(Call call, MetricsContainer container, SharedModelClients.Lease lease) {
    if (container == null) {
      recordHere(call, lease);
      return;
    }
    try (Closeable scope = MetricsEnvironment.scopedMetricsContainer(container)) {
      recordHere(call, lease);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** {@link #record(Call, MetricsContainer, SharedModelClients.Lease)} without a lease. */
  public void record(Call call, MetricsContainer container) {
    record(call, container, null);
  }

  private void recordHere(Call call, SharedModelClients.Lease lease) {
    record(call);
    if (lease != null && lease.coordinated()) {
      if (!call.getCached() && !"budget".equals(call.getErrorKind())) {
        coordinationCalls.inc();
      }
      long trips = lease.takeCoordinationTrips();
      if (trips > 0) {
        coordinationTrips.inc(trips);
      }
    }
  }

  public void record(Call call) {
    calls.inc();
    if (call.getCached()) {
      cacheHits.inc();
      return;
    }
    if ("budget".equals(call.getErrorKind())) {
      budgetRefused.inc();
      return;
    }
    requests.inc(call.getAttempts());
    retries.inc(Math.max(0, call.getAttempts() - 1));
    rateLimited.inc(call.getRateLimited());
    promptTokens.inc(call.getPromptTokens());
    completionTokens.inc(call.getCompletionTokens());
    reasoningTokens.inc(call.getReasoningTokens());
    if (call.getUsageEstimated()) {
      usageEstimated.inc();
    }
    if (!call.getOk()) {
      failures.inc();
    } else {
      latency.update(call.getLatencyMs());
    }
  }
}

package dev.moaa.transforms.moa;

import dev.moaa.schemas.Call;
import dev.moaa.transforms.client.ModelEndpoint;
import java.io.Serializable;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Distribution;
import org.apache.beam.sdk.metrics.Metrics;

/**
 * The per-model Beam metrics of finished calls (namespace {@value ModelCallFn#NAMESPACE}): {@code
 * calls} (every call, answered from the cache or not), {@code cache_hits}, {@code budget_refused}
 * (calls the budget did not let out), and of the calls sent {@code requests} (every request sent,
 * retries included), {@code failures} (calls that failed after their retries, budget refusals
 * not counted), {@code retries} (every retried attempt), {@code rate_limited} (attempts answered
 * 429, a part of the retries and failures), {@code prompt_tokens} and {@code completion_tokens}
 * (billed over every answered attempt, failed calls included), {@code reasoning_tokens}, {@code
 * usage_estimated} (calls whose tokens are partly estimated), {@code latency_ms}. Record on the
 * DoFn's own thread: Beam's metric containers are per thread.
 */
public final class CallMetrics implements Serializable {
  private static final long serialVersionUID = 1L;

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

  public CallMetrics(ModelEndpoint endpoint) {
    String m = endpoint.name();
    String ns = ModelCallFn.NAMESPACE;
    this.calls = Metrics.counter(ns, "calls/" + m);
    this.failures = Metrics.counter(ns, "failures/" + m);
    this.retries = Metrics.counter(ns, "retries/" + m);
    this.rateLimited = Metrics.counter(ns, "rate_limited/" + m);
    this.promptTokens = Metrics.counter(ns, "prompt_tokens/" + m);
    this.completionTokens = Metrics.counter(ns, "completion_tokens/" + m);
    this.cacheHits = Metrics.counter(ns, "cache_hits/" + m);
    this.latency = Metrics.distribution(ns, "latency_ms/" + m);
    this.requests = Metrics.counter(ns, "requests/" + m);
    this.budgetRefused = Metrics.counter(ns, "budget_refused/" + m);
    this.reasoningTokens = Metrics.counter(ns, "reasoning_tokens/" + m);
    this.usageEstimated = Metrics.counter(ns, "usage_estimated/" + m);
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

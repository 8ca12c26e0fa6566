package dev.moaa.transforms.moa;

import dev.moaa.schemas.Call;
import dev.moaa.transforms.client.ModelEndpoint;
import java.io.Serializable;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Distribution;
import org.apache.beam.sdk.metrics.Metrics;

/**
 * The per-model Beam metrics of finished calls (namespace {@value ModelCallFn#NAMESPACE}): {@code
 * calls} (every call, answered from the cache or not), {@code cache_hits}, and of the paid calls
 * {@code failures}, {@code retries} (every retried attempt), {@code rate_limited} (attempts answered
 * 429, a part of the retries and failures), {@code prompt_tokens}, {@code completion_tokens}, {@code
 * latency_ms}. Record on the DoFn's own thread: Beam's metric containers are per thread.
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
  }

  public void record(Call call) {
    calls.inc();
    if (call.getCached()) {
      cacheHits.inc();
      return;
    }
    retries.inc(Math.max(0, call.getAttempts() - 1));
    rateLimited.inc(call.getRateLimited());
    if (!call.getOk()) {
      failures.inc();
    } else {
      promptTokens.inc(call.getPromptTokens());
      completionTokens.inc(call.getCompletionTokens());
      latency.update(call.getLatencyMs());
    }
  }
}

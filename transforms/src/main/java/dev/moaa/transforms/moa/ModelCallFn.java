package dev.moaa.transforms.moa;

import dev.moaa.schemas.Call;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ModelEndpoint;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.apache.beam.sdk.metrics.Distribution;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.metrics.MetricsContainer;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.apache.beam.sdk.values.TupleTag;
import org.joda.time.Instant;

/**
 * Base of every DoFn that calls a model. Calls are not made on the DoFn's thread: each element's
 * call is queued on the model's shared pool ({@link SharedModelClients}) and the DoFn moves on to
 * the next element, so a bundle keeps up to {@code max_concurrency} calls in flight. Results are
 * emitted in {@code @FinishBundle} with each element's own timestamp and window. A failed call is
 * data: subclasses receive it as a {@link Call} with {@code ok = false} and route it.
 *
 * <p>Metrics (namespace {@value #NAMESPACE}), per model: {@code calls} (every call, answered from
 * the cache or not), {@code cache_hits}, and of the paid calls {@code failures}, {@code retries},
 * {@code rate_limited} (attempts answered 429), {@code prompt_tokens}, {@code completion_tokens},
 * {@code latency_ms}; and {@code bundle_calls}
 * (calls awaited per bundle: how finely results flow on to the next stage).
 */
public abstract class ModelCallFn<InT, OutT> extends DoFn<InT, OutT> {
  private static final long serialVersionUID = 1L;
  public static final String NAMESPACE = "moaa";

  protected final ModelEndpoint endpoint;
  private final CallMetrics metrics;
  private final Distribution bundleSize;

  private transient SharedModelClients.Lease lease;
  private transient List<Pending<InT>> pending;

  protected ModelCallFn(ModelEndpoint endpoint) {
    this.endpoint = endpoint;
    this.metrics = new CallMetrics(endpoint);
    this.bundleSize = Metrics.distribution(NAMESPACE, "bundle_calls/" + endpoint.name());
  }

  /** Where an element's results go: the same calls in process and finish-bundle contexts. */
  protected interface Emitter {
    <T> void output(TupleTag<T> tag, T value);
  }

  /** What to send for this element, or null to handle it without a call. */
  protected abstract Planned plan(InT element);

  /** Handles an element for which {@link #plan} returned null. */
  protected void handleWithoutCall(InT element, Emitter out) {
    throw new IllegalStateException("plan() returned no call and handleWithoutCall is not overridden");
  }

  /** Routes the finished call (successful or not) of {@code element}. */
  protected abstract void handle(InT element, Call call, Emitter out);

  /**
   * Routes the finished calls of {@code element}: the call, then the repair call if one was made.
   * By default only the first is passed to {@link #handle(Object, Call, Emitter)}.
   */
  protected void handleAll(InT element, List<Call> calls, Emitter out) {
    handle(element, calls.get(0), out);
  }

  /**
   * A request with the template version it was rendered from, and optionally a repair rule: given
   * the answer's content, the follow-up request to send when the answer is unusable, else null.
   */
  public record Planned(ChatRequest request, String template, String role, int turn, int layer,
      java.util.function.Function<String, ChatRequest> repair, String repairTemplate) {
    public Planned(ChatRequest request, String template, String role, int turn, int layer) {
      this(request, template, role, turn, layer, null, null);
    }
  }

  private record Pending<InT>(InT element, Planned plan, String hash, Instant timestamp,
      BoundedWindow window, CompletableFuture<List<Call>> future) {}

  @Setup
  public void setup() {
    lease = SharedModelClients.acquire(endpoint);
  }

  @StartBundle
  public void startBundle() {
    pending = new ArrayList<>();
  }

  @ProcessElement
  public void processElement(ProcessContext c, BoundedWindow window) {
    InT element = c.element();
    Planned plan = plan(element);
    if (plan == null) {
      handleWithoutCall(element, new Emitter() {
        @Override
        public <T> void output(TupleTag<T> tag, T value) {
          c.output(tag, value);
        }
      });
      return;
    }
    String hash = Calls.requestHash(endpoint, plan.request(), plan.template());
    MetricsContainer into = CallMetrics.currentContainer();
    SharedModelClients.Lease l = lease;
    // counted as each call ends, in this thread's container (see CallMetrics)
    CompletableFuture<List<Call>> calls = l.submit(plan.request(), hash, plan.repair(), plan.repairTemplate())
        .thenApply(o -> {
          List<Call> made = Calls.of(endpoint, plan.role(), plan.turn(), plan.layer(), plan.template(),
              plan.request(), hash, plan.repairTemplate(), o);
          made.forEach(call -> metrics.record(call, into, l));
          return made;
        });
    pending.add(new Pending<>(element, plan, hash, c.timestamp(), window, calls));
  }

  @FinishBundle
  public void finishBundle(FinishBundleContext c) throws InterruptedException {
    List<Pending<InT>> batch = pending;
    pending = new ArrayList<>();
    bundleSize.update(batch.size());
    for (Pending<InT> p : batch) {
      List<Call> calls;
      try {
        calls = p.future().get();
      } catch (ExecutionException e) {
        throw new IllegalStateException("call pool failed unexpectedly", e.getCause());
      }
      handleAll(p.element(), calls, new Emitter() {
        @Override
        public <T> void output(TupleTag<T> tag, T value) {
          c.output(tag, value, p.timestamp(), p.window());
        }
      });
    }
  }

  @Teardown
  public void teardown() {
    if (lease != null) {
      lease.release();
      lease = null;
    }
  }
}

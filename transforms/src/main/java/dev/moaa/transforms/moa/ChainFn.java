package dev.moaa.transforms.moa;

import dev.moaa.schemas.Call;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ModelEndpoint;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import java.util.function.IntFunction;
import org.apache.beam.sdk.metrics.Distribution;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.metrics.MetricsContainer;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.apache.beam.sdk.values.TupleTag;

/**
 * The asynchronous chain skeleton every chain DoFn shares (the SFT chain, the DPO chain, judge
 * evaluation): one chain per input element, driven by futures on the models' shared call pools
 * ({@link SharedModelClients}), so no element waits for another one. A subclass says only how a
 * chain starts ({@link #start}), what it calls next (through {@link #call}) and to which tagged
 * output its outcome goes ({@link #emit}).
 *
 * <p>The skeleton owns the rest: one lease per lease key (a model name or a role) from {@code
 * @Setup} to {@code @Teardown}; at most {@code maxInFlight} chains under way per DoFn instance
 * ({@link ChainsInFlight}: past that, {@code @ProcessElement} waits for one to finish); finished
 * chains emitted as they finish, in the timestamp and window of the element that started them
 * (from {@code @ProcessElement} when they share the current element's, else at the end of the
 * bundle; {@code @FinishBundle} waits for the rest); each call counted per model ({@link
 * CallMetrics}) as it ends, in the metrics container of the DoFn's thread; and the distribution
 * {@code <unit>s_in_flight} of chains under way when one is added.
 *
 * @param <InT> the element that starts a chain
 * @param <OutcomeT> what a chain ends with
 * @param <OutT> the DoFn's main output
 */
public abstract class ChainFn<InT, OutcomeT, OutT> extends DoFn<InT, OutT> {
  private static final long serialVersionUID = 1L;
  /** Held while one step's calls are queued: see {@link #together}. */
  private static final Object SUBMISSION_ORDER = new Object();

  private final Map<String, ModelEndpoint> endpoints;
  private final ClientFactory clients;
  private final String unit;
  private final int maxInFlight;
  private final Map<String, CallMetrics> metrics = new HashMap<>();
  private final Distribution chainsInFlight;

  private transient Map<String, SharedModelClients.Lease> leases;
  private transient ChainsInFlight<OutcomeT> chains;
  private transient volatile MetricsContainer container;

  /**
   * {@code endpoints}: every endpoint the chain calls, by lease key (calls name the key they go
   * through); {@code unit}: what one chain works on ("conversation", "prompt", "pair"), for error
   * messages and the {@code <unit>s_in_flight} metric; {@code clients}: how the models' clients are
   * made ({@link ClientFactory#http()} unless a test says otherwise).
   */
  protected ChainFn(Map<String, ModelEndpoint> endpoints, String unit, ClientFactory clients) {
    this.endpoints = new LinkedHashMap<>(endpoints);
    this.clients = java.util.Objects.requireNonNull(clients, "clients");
    this.unit = unit;
    Map<String, Integer> limits = new LinkedHashMap<>();
    for (ModelEndpoint m : endpoints.values()) {
      metrics.putIfAbsent(m.name(), new CallMetrics(m));
      limits.putIfAbsent(m.name(), m.maxConcurrency());
    }
    int calls = limits.values().stream().mapToInt(Integer::intValue).sum();
    // Enough chains to fill every model's limit twice over, whatever stage they are in.
    this.maxInFlight = Math.max(16, 2 * calls);
    this.chainsInFlight = Metrics.distribution(CallMetrics.NAMESPACE, unit + "s_in_flight");
  }

  /** Where an outcome goes: the same calls from {@code @ProcessElement} and {@code @FinishBundle}. */
  protected interface Outputs {
    <T> void output(TupleTag<T> tag, T value);
  }

  /** Starts the chain of {@code element}; the future never completes exceptionally. */
  protected abstract CompletableFuture<OutcomeT> start(InT element);

  /** Emits a finished chain's outcome (on the DoFn's thread). */
  protected abstract void emit(OutcomeT outcome, Outputs out);

  /** Loads what the chain needs once per instance (templates); called from {@code @Setup}. */
  protected void prepare() {}

  @Setup
  public void setup() {
    leases = new HashMap<>();
    endpoints.forEach((key, m) -> leases.put(key, SharedModelClients.acquire(m, clients)));
    prepare();
  }

  @StartBundle
  public void startBundle() {
    chains = new ChainsInFlight<>(maxInFlight, unit);
    container = CallMetrics.currentContainer();
  }

  @ProcessElement
  public void processElement(ProcessContext c, BoundedWindow window) throws InterruptedException {
    container = CallMetrics.currentContainer();
    chainsInFlight.update(chains.add(start(c.element()), c.timestamp(), window, o -> emit(o, new Outputs() {
      @Override
      public <T> void output(TupleTag<T> tag, T value) {
        c.output(tag, value);
      }
    })));
  }

  @FinishBundle
  public void finishBundle(FinishBundleContext c) {
    chains.drain((o, timestamp, window) -> emit(o, new Outputs() {
      @Override
      public <T> void output(TupleTag<T> tag, T value) {
        c.output(tag, value, timestamp, window);
      }
    }));
  }

  /**
   * Queues {@code n} calls that go out together (one layer's proposer calls, one pair's judges): no
   * other chain's calls come between them on any model's queue. Each model's pool serves its queue
   * first in, first out, so every model then serves the chains in one order and a step's calls end
   * together, handing the next step (the aggregator, the lead judge) whole chains at once. Queued one
   * by one from the runner's several threads, each proposer's first 32 calls went to a different mix
   * of conversations, and the aggregator reached its limit only after a second round of proposals.
   */
  protected static <T> List<CompletableFuture<T>> together(int n, IntFunction<CompletableFuture<T>> call) {
    List<CompletableFuture<T>> calls = new ArrayList<>(n);
    synchronized (SUBMISSION_ORDER) {
      for (int i = 0; i < n; i++) {
        calls.add(call.apply(i));
      }
    }
    return calls;
  }

  /** Queues one call on the pool of lease {@code leaseKey}; its future never completes exceptionally. */
  protected CompletableFuture<Call> call(String leaseKey, ModelEndpoint m, ChatRequest request, String template,
      String role, int turn, int layer) {
    return call(leaseKey, m, request, template, role, turn, layer, null, null).thenApply(calls -> calls.get(0));
  }

  /**
   * Queues one call (and its repair, when {@code repair} says the answer needs one) on the pool of
   * lease {@code leaseKey}; ends with the call and its repair call, each counted as it ends.
   */
  protected CompletableFuture<List<Call>> call(String leaseKey, ModelEndpoint m, ChatRequest request, String template,
      String role, int turn, int layer, Function<String, ChatRequest> repair, String repairTemplate) {
    String hash = Calls.requestHash(m, request, template);
    SharedModelClients.Lease lease = leases.get(leaseKey);
    MetricsContainer into = container;
    return lease.submit(request, hash, repair, repairTemplate).thenApply(o -> {
      List<Call> calls = Calls.of(m, role, turn, layer, template, request, hash, repairTemplate, o);
      for (Call call : calls) {
        metrics.get(call.getModel()).record(call, into, lease);
      }
      return calls;
    });
  }

  @Teardown
  public void teardown() {
    if (leases != null) {
      leases.values().forEach(SharedModelClients.Lease::release);
      leases = null;
    }
  }
}

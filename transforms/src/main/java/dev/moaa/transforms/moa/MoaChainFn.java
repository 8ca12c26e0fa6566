package dev.moaa.transforms.moa;

import dev.moaa.prompts.PromptTemplate;
import dev.moaa.schemas.Call;
import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.TurnWork;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ModelEndpoint;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.beam.sdk.metrics.Distribution;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.metrics.MetricsContainer;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.apache.beam.sdk.values.TupleTag;

/**
 * The whole MoA chain of each conversation, driven asynchronously: for every turn, every layer's
 * proposer calls go out at once; as soon as a conversation's layer is complete its next layer (or
 * its aggregator call) goes out, and after the aggregate its next turn. No conversation waits for
 * another one, so the aggregator of prompt <i>i</i> runs while the proposers of prompt <i>j</i> still
 * do: stages overlap by construction, and each model's shared call pool ({@link
 * SharedModelClients}) stays as busy as its limit allows.
 *
 * <p>A DoFn instance keeps at most {@code maxInFlight} conversations under way; past that, {@code
 * @ProcessElement} waits for one to finish. Finished conversations are emitted as they finish (from
 * {@code @ProcessElement} when they share the current element's window and timestamp, else at the
 * end of the bundle), and {@code @FinishBundle} waits for the rest. Each call is counted in the
 * per-model metrics ({@link CallMetrics}) as it ends, in the container of the DoFn's thread.
 */
public class MoaChainFn extends DoFn<Conversation, TurnWork> {
  private static final long serialVersionUID = 1L;
  public static final TupleTag<TurnWork> COMPLETED = new TupleTag<>() {};
  public static final TupleTag<DeadLetter> FAILED = new TupleTag<>() {};

  private final MoaTopology topology;
  private final int maxInFlight;
  private final Map<String, CallMetrics> metrics = new HashMap<>();
  private final Distribution conversationsInFlight;

  private transient Map<String, SharedModelClients.Lease> leases;
  private transient PromptTemplate refine;
  private transient PromptTemplate aggregate;
  private transient ChainsInFlight<Outcome> chains;
  private transient volatile MetricsContainer container;

  public MoaChainFn(MoaTopology topology) {
    this.topology = topology;
    int calls = 0;
    for (ModelEndpoint m : models(topology).values()) {
      metrics.put(m.name(), new CallMetrics(m));
      calls += m.maxConcurrency();
    }
    // Enough conversations to fill every model's limit twice over, whatever stage they are in.
    this.maxInFlight = Math.max(16, 2 * calls);
    this.conversationsInFlight = Metrics.distribution(ModelCallFn.NAMESPACE, "conversations_in_flight");
  }

  private static Map<String, ModelEndpoint> models(MoaTopology t) {
    Map<String, ModelEndpoint> m = new LinkedHashMap<>();
    t.proposers().forEach(p -> m.put(p.name(), p));
    m.put(t.aggregator().name(), t.aggregator());
    return m;
  }

  /** A conversation's end: a finished work item or a dead letter, and every call it made. */
  private record Outcome(TurnWork completed, DeadLetter failed, List<Call> calls) {}

  @Setup
  public void setup() {
    leases = new HashMap<>();
    for (ModelEndpoint m : models(topology).values()) {
      leases.put(m.name(), SharedModelClients.acquire(m));
    }
    refine = PromptTemplate.load(topology.refineTemplate());
    aggregate = PromptTemplate.load(topology.aggregatorTemplate());
  }

  @StartBundle
  public void startBundle() {
    chains = new ChainsInFlight<>(maxInFlight, "conversation");
    container = CallMetrics.currentContainer();
  }

  @ProcessElement
  public void processElement(ProcessContext c, BoundedWindow window) throws InterruptedException {
    container = CallMetrics.currentContainer();
    conversationsInFlight.update(chains.add(start(c.element()), c.timestamp(), window, o -> {
      if (o.completed() != null) {
        c.output(COMPLETED, o.completed());
      } else {
        c.output(FAILED, o.failed());
      }
    }));
  }

  @FinishBundle
  public void finishBundle(FinishBundleContext c) {
    chains.drain((o, timestamp, window) -> {
      if (o.completed() != null) {
        c.output(COMPLETED, o.completed(), timestamp, window);
      } else {
        c.output(FAILED, o.failed(), timestamp, window);
      }
    });
  }

  private CompletableFuture<Outcome> start(Conversation c) {
    TurnWork work = MoaSteps.start(c);
    if (c.getTurns().size() > topology.maxTurns()) {
      // Normally refused when read; here it still ends as a dead letter rather than vanish.
      return CompletableFuture.completedFuture(new Outcome(null, DeadLetters.forConversation("propose",
          "too_many_turns", "more than max_turns=" + topology.maxTurns() + " user turns", c, 0, List.of()),
          List.of()));
    }
    return layer(work, new ArrayList<>());
  }

  /** Sends the layer's proposer calls (or the turn's aggregator call after the last layer). */
  private CompletableFuture<Outcome> layer(TurnWork work, List<Call> made) {
    if (work.getLayer() > topology.layers()) {
      return aggregate(work, made);
    }
    ChatRequest request = MoaSteps.proposerRequest(work, refine);
    String template = MoaSteps.proposerTemplate(work, refine);
    List<CompletableFuture<Call>> calls = new ArrayList<>();
    for (ModelEndpoint p : topology.proposers()) {
      calls.add(call(p, request, template, "proposer", work.getTurn(), work.getLayer()));
    }
    return CompletableFuture.allOf(calls.toArray(CompletableFuture[]::new)).thenCompose(done -> {
      List<Call> layer = new ArrayList<>();
      calls.forEach(f -> layer.add(f.join()));
      made.addAll(layer);
      MoaSteps.Step step = MoaSteps.mergeLayer(topology, work, layer);
      return step.failed() != null ? finished(null, step.failed(), made) : layer(step.next(), made);
    });
  }

  private CompletableFuture<Outcome> aggregate(TurnWork work, List<Call> made) {
    ChatRequest request = MoaSteps.aggregatorRequest(work, aggregate);
    return call(topology.aggregator(), request, aggregate.version(), "aggregator", work.getTurn(), topology.layers() + 1)
        .thenCompose(call -> {
          made.add(call);
          MoaSteps.Step step = MoaSteps.aggregate(topology, work, call);
          if (step.failed() != null) {
            return finished(null, step.failed(), made);
          }
          return step.completed() ? finished(step.next(), null, made) : layer(step.next(), made);
        });
  }

  private static CompletableFuture<Outcome> finished(TurnWork completed, DeadLetter failed, List<Call> made) {
    return CompletableFuture.completedFuture(new Outcome(completed, failed, made));
  }

  private CompletableFuture<Call> call(ModelEndpoint m, ChatRequest request, String template, String role,
      int turn, int layer) {
    String hash = Calls.requestHash(m, request, template);
    SharedModelClients.Lease lease = leases.get(m.name());
    MetricsContainer into = container;
    return lease.submit(request, hash).thenApply(o -> {
      Call call = Calls.of(m, role, turn, layer, template, request, hash, o.response(), o.failure(), o.cached());
      metrics.get(m.name()).record(call, into, lease);
      return call;
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

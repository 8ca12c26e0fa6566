package dev.moaa.transforms.moa;

import dev.moaa.prompts.PromptTemplate;
import dev.moaa.schemas.Call;
import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.TurnWork;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ModelEndpoint;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.apache.beam.sdk.values.TupleTag;

/**
 * The whole MoA chain of each conversation, driven asynchronously on the {@link ChainFn} skeleton:
 * for every turn, every layer's proposer calls go out at once; as soon as a conversation's layer is
 * complete its next layer (or its aggregator call) goes out, and after the aggregate its next turn.
 * No conversation waits for another one, so the aggregator of prompt <i>i</i> runs while the
 * proposers of prompt <i>j</i> still do: stages overlap by construction, and each model's shared
 * call pool ({@link SharedModelClients}) stays as busy as its limit allows.
 *
 * <p>Output: each finished conversation ({@link #COMPLETED}) or its dead letter ({@link #FAILED}).
 * Leases, conversations in flight, emission and per-model metrics are the skeleton's.
 */
public class MoaChainFn extends ChainFn<Conversation, MoaChainFn.Outcome, TurnWork> {
  private static final long serialVersionUID = 1L;
  public static final TupleTag<TurnWork> COMPLETED = new TupleTag<>() {};
  public static final TupleTag<DeadLetter> FAILED = new TupleTag<>() {};

  private final MoaTopology topology;

  private transient PromptTemplate refine;
  private transient PromptTemplate aggregate;

  public MoaChainFn(MoaTopology topology, ClientFactory clients) {
    super(models(topology), "conversation", clients);
    this.topology = topology;
  }

  private static Map<String, ModelEndpoint> models(MoaTopology t) {
    Map<String, ModelEndpoint> m = new LinkedHashMap<>();
    t.proposers().forEach(p -> m.put(p.name(), p));
    m.put(t.aggregator().name(), t.aggregator());
    return m;
  }

  /** A conversation's end: a finished work item or a dead letter, and every call it made. */
  record Outcome(TurnWork completed, DeadLetter failed, List<Call> calls) {}

  @Override
  protected void prepare() {
    refine = PromptTemplate.load(topology.refineTemplate());
    aggregate = PromptTemplate.load(topology.aggregatorTemplate());
  }

  @Override
  protected void emit(Outcome o, Outputs out) {
    if (o.completed() != null) {
      out.output(COMPLETED, o.completed());
    } else {
      out.output(FAILED, o.failed());
    }
  }

  @Override
  protected CompletableFuture<Outcome> start(Conversation c) {
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
    List<ModelEndpoint> proposers = topology.proposers();
    List<CompletableFuture<Call>> calls = together(proposers.size(), i -> call(proposers.get(i).name(),
        proposers.get(i), request, template, "proposer", work.getTurn(), work.getLayer()));
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
    return call(topology.aggregator().name(), topology.aggregator(), request, aggregate.version(), "aggregator", work.getTurn(), topology.layers() + 1)
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
}

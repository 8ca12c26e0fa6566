package dev.moaa.transforms.moa;

import dev.moaa.prompts.PromptTemplate;
import dev.moaa.schemas.Call;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.Message;
import dev.moaa.schemas.TurnLineage;
import dev.moaa.schemas.TurnWork;
import dev.moaa.transforms.client.ChatRequest;
import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.values.TupleTag;

/**
 * The aggregator of one turn: synthesizes one answer from the last layer's proposals. On success
 * the turn's lineage is recorded and the answer joins the history; the work goes on to the next
 * user turn ({@link #NEXT_TURN}) or, after the last one, to {@link #COMPLETED}. A failed or (unless
 * allowed) truncated aggregate dead-letters the conversation with all of the turn's calls.
 */
public class AggregateFn extends ModelCallFn<TurnWork, TurnWork> {
  private static final long serialVersionUID = 1L;
  public static final TupleTag<TurnWork> NEXT_TURN = new TupleTag<>() {};
  public static final TupleTag<TurnWork> COMPLETED = new TupleTag<>() {};
  public static final TupleTag<DeadLetter> FAILED = new TupleTag<>() {};

  private final MoaTopology topology;
  private transient PromptTemplate template;

  public AggregateFn(MoaTopology topology) {
    super(topology.aggregator());
    this.topology = topology;
  }

  @Override
  protected Planned plan(TurnWork work) {
    if (template == null) {
      template = PromptTemplate.load(topology.aggregatorTemplate());
    }
    return new Planned(ChatRequest.of(MoaMessages.forAggregator(work, template)), template.version(),
        "aggregator", work.getTurn(), topology.layers() + 1);
  }

  @Override
  protected void handle(TurnWork work, Call call, Emitter out) {
    List<Call> calls = new ArrayList<>(work.getProposals());
    calls.add(call);
    if (!call.getOk() || (call.getTruncated() && !topology.acceptTruncated())) {
      String reason = call.getOk() ? "aggregate_truncated" : DeadLetters.reason("aggregator_failed", List.of(call));
      String error = call.getOk()
          ? "the aggregate of turn " + work.getTurn() + " stopped at the token limit (finish_reason length)"
          : call.getModel() + ": " + call.getErrorKind() + " after " + call.getAttempts() + " attempt(s): " + call.getError();
      out.output(FAILED, DeadLetters.forConversation("aggregate", reason, error,
          work.getConversation(), work.getTurn(), calls));
      return;
    }
    List<TurnLineage> done = new ArrayList<>(work.getDone());
    done.add(new TurnLineage(work.getTurn(), work.getProposals(), call));
    List<Message> history = new ArrayList<>(work.getHistory());
    history.add(new Message("user", work.getConversation().getTurns().get(work.getTurn())));
    history.add(new Message("assistant", call.getContent()));
    boolean more = work.getTurn() + 1 < work.getConversation().getTurns().size();
    TurnWork next = TurnWork.newBuilder(work)
        .setTurn(more ? work.getTurn() + 1 : work.getTurn())
        .setLayer(1)
        .setHistory(history)
        .setReferences(List.of())
        .setProposals(List.of())
        .setDone(done)
        .build();
    out.output(more ? NEXT_TURN : COMPLETED, next);
  }
}

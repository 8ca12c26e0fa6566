package dev.moaa.transforms.moa;

import dev.moaa.prompts.PromptTemplate;
import dev.moaa.schemas.Call;
import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.Message;
import dev.moaa.schemas.TurnLineage;
import dev.moaa.schemas.TurnWork;
import dev.moaa.transforms.client.ChatRequest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The decisions of one MoA chain, free of Beam and of I/O: what each call sends, and what a layer's
 * proposals or a turn's aggregate lead to. {@link MoaChainFn} strings them together per
 * conversation.
 */
final class MoaSteps {
  private MoaSteps() {}

  /** Where a step leads: on to {@code next} (the next layer or turn), done, or a dead letter. */
  record Step(TurnWork next, boolean completed, DeadLetter failed) {
    static Step onTo(TurnWork w) {
      return new Step(w, false, null);
    }

    static Step done(TurnWork w) {
      return new Step(w, true, null);
    }

    static Step failed(DeadLetter d) {
      return new Step(null, false, d);
    }
  }

  static TurnWork start(Conversation c) {
    return TurnWork.newBuilder()
        .setConversation(c)
        .setTurn(0)
        .setLayer(1)
        .setHistory(List.of())
        .setReferences(List.of())
        .setProposals(List.of())
        .setDone(List.of())
        .build();
  }

  /** A first-layer proposer answers the conversation as it stands; later layers refine. */
  static ChatRequest proposerRequest(TurnWork work, PromptTemplate refine) {
    return ChatRequest.of(MoaMessages.forProposer(work, refine));
  }

  /** The template version a proposer call was rendered from; null for a plain first-layer answer. */
  static String proposerTemplate(TurnWork work, PromptTemplate refine) {
    return work.getLayer() <= 1 ? null : refine.version();
  }

  static ChatRequest aggregatorRequest(TurnWork work, PromptTemplate aggregate) {
    return ChatRequest.of(MoaMessages.forAggregator(work, aggregate));
  }

  /**
   * A layer's proposals, in any order: on to the next layer (or the aggregator) with the successful
   * ones as references, or a dead letter when the budget stopped one of them or too few succeeded.
   */
  static Step mergeLayer(MoaTopology topology, TurnWork work, List<Call> layer) {
    List<Call> sorted = new ArrayList<>(layer);
    sorted.sort(Comparator.comparingInt((Call c) -> topology.proposerIndex(c.getModel()))
        .thenComparing(Call::getModel));
    List<Call> ok = new ArrayList<>();
    for (Call c : sorted) {
      if (c.getOk()) {
        ok.add(c);
      }
    }
    List<Call> all = new ArrayList<>(work.getProposals());
    all.addAll(sorted);
    if (DeadLetters.refusedForBudget(sorted)) {
      // Going on with fewer proposals would write a different answer than a run with budget left.
      return Step.failed(DeadLetters.forConversation("propose", DeadLetters.BUDGET,
          "the run's budget stopped proposals of layer " + work.getLayer() + " of turn " + work.getTurn()
              + "; " + DeadLetters.describeFailures(sorted), work.getConversation(), work.getTurn(), all));
    }
    if (DeadLetters.coordinationLost(sorted)) {
      return Step.failed(DeadLetters.forConversation("propose", DeadLetters.COORDINATION,
          DeadLetters.coordinationError(sorted), work.getConversation(), work.getTurn(), all));
    }
    if (ok.size() < topology.minProposals()) {
      String why = ok.size() + " of " + topology.proposers().size() + " proposals succeeded in layer "
          + work.getLayer() + " of turn " + work.getTurn() + ", " + topology.minProposals()
          + " needed; " + DeadLetters.describeFailures(sorted);
      return Step.failed(DeadLetters.forConversation("propose", "not_enough_proposals", why,
          work.getConversation(), work.getTurn(), all));
    }
    return Step.onTo(TurnWork.newBuilder(work)
        .setLayer(work.getLayer() + 1)
        .setReferences(ok)
        .setProposals(all)
        .build());
  }

  /**
   * A turn's aggregate: the turn's lineage is recorded and the answer joins the history; on to the
   * next user turn or done after the last. A failed or (unless allowed) truncated aggregate
   * dead-letters the conversation with all of the turn's calls.
   */
  static Step aggregate(MoaTopology topology, TurnWork work, Call call) {
    List<Call> calls = new ArrayList<>(work.getProposals());
    calls.add(call);
    if (!call.getOk() || (call.getTruncated() && !topology.acceptTruncated())) {
      String reason = call.getOk() ? "aggregate_truncated" : DeadLetters.reason("aggregator_failed", List.of(call));
      String error = call.getOk()
          ? "the aggregate of turn " + work.getTurn() + " stopped at the token limit (finish_reason length)"
          : call.getModel() + ": " + call.getErrorKind() + " after " + call.getAttempts() + " attempt(s): " + call.getError();
      return Step.failed(DeadLetters.forConversation("aggregate", reason, error,
          work.getConversation(), work.getTurn(), calls));
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
    return more ? Step.onTo(next) : Step.done(next);
  }
}

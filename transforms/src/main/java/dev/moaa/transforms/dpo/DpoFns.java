package dev.moaa.transforms.dpo;

import dev.moaa.schemas.Call;
import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.DpoWork;
import dev.moaa.schemas.Dropped;
import dev.moaa.schemas.JudgeTask;
import dev.moaa.schemas.JudgeVote;
import dev.moaa.schemas.Judgment;
import dev.moaa.schemas.Message;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.moa.DeadLetters;
import dev.moaa.transforms.moa.ModelCallFn;
import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.TupleTag;

/**
 * The staged DoFns of MoAA-DPO: the prompt of a conversation, and the per-judge and lead-judge steps
 * of {@link JudgePairs} (judge evaluation). The preference pipeline itself runs each prompt's whole
 * chain in {@link DpoChainFn}. Each adapts plain logic ({@link DpoSteps}, {@link Verdicts}).
 */
public final class DpoFns {
  private DpoFns() {}

  public static final TupleTag<DeadLetter> FAILED = new TupleTag<>() {};
  public static final TupleTag<Dropped> DROPPED = new TupleTag<>() {};

  /** {@code promptId/first/second}: the key of one ordered pair. */
  static String taskKey(JudgeTask t) {
    return t.getPromptId() + "/" + t.getFirst() + "/" + t.getSecond();
  }

  // ---------------------------------------------------------------------------------------------
  /**
   * A conversation becomes a DPO prompt: everything up to and including its last user turn. Earlier
   * turns need the input's own assistant replies; a multi-turn row without them is a dead letter
   * ({@code incomplete_history}).
   */
  public static class ToPromptFn extends DoFn<Conversation, DpoWork> {
    private static final long serialVersionUID = 1L;
    public static final TupleTag<DpoWork> PROMPTS = new TupleTag<>() {};

    @ProcessElement
    public void process(@Element Conversation c, MultiOutputReceiver out) {
      List<Message> prompt = new ArrayList<>();
      if (c.getSystem() != null && !c.getSystem().isBlank()) {
        prompt.add(new Message("system", c.getSystem()));
      }
      int last = c.getTurns().size() - 1;
      for (int t = 0; t <= last; t++) {
        prompt.add(new Message("user", c.getTurns().get(t)));
        if (t < last) {
          String reply = t < c.getReplies().size() ? c.getReplies().get(t) : null;
          if (reply == null) {
            out.get(FAILED).output(DeadLetters.forConversation("prompt", "incomplete_history",
                "user turn " + (t + 1) + " of " + (last + 1) + " has no assistant reply in the input, so the "
                    + "prompt up to the last user turn cannot be built", c, t, List.of()));
            return;
          }
          prompt.add(new Message("assistant", reply));
        }
      }
      out.get(PROMPTS).output(DpoWork.newBuilder().setConversation(c).setPrompt(prompt).build());
    }
  }

  // ---------------------------------------------------------------------------------------------
  /**
   * One judge on one ordered pair. A reply whose last line is not a verdict gets one repair
   * request; the vote records both calls and a null verdict when even the repair failed.
   */
  public static class JudgeFn extends ModelCallFn<JudgeTask, KV<String, JudgeTask>> {
    private static final long serialVersionUID = 1L;
    public static final TupleTag<KV<String, JudgeTask>> VOTED = new TupleTag<>() {};

    public JudgeFn(ModelEndpoint judge) {
      super(judge);
    }

    @Override
    protected Planned plan(JudgeTask t) {
      ChatRequest r = DpoSteps.judgeRequest(t);
      return new Planned(r, DpoSteps.judgeTemplate(), "judge", t.getFirst(), t.getSecond(),
          JudgePrompts.verdictRepair(r), DpoSteps.repairTemplate());
    }

    @Override
    protected void handle(JudgeTask t, Call call, Emitter out) {
      handleAll(t, List.of(call), out);
    }

    @Override
    protected void handleAll(JudgeTask t, List<Call> calls, Emitter out) {
      List<JudgeVote> votes = new ArrayList<>(t.getVotes());
      votes.add(DpoSteps.vote(endpoint.name(), calls));
      JudgeTask next = JudgeTask.newBuilder(t).setVotes(votes).build();
      out.output(VOTED, KV.of(taskKey(next), next));
    }
  }

  /** jury and single: the judges' votes pooled into the judgment. */
  public static class PoolVotesFn extends DoFn<KV<String, Iterable<JudgeTask>>, Judgment> {
    private static final long serialVersionUID = 1L;
    private final DpoTopology topology;

    public PoolVotesFn(DpoTopology topology) {
      this.topology = topology;
    }

    @ProcessElement
    public void process(@Element KV<String, Iterable<JudgeTask>> group, OutputReceiver<Judgment> out) {
      out.output(DpoSteps.pooled(mergeVotes(group.getValue(), topology)));
    }
  }

  /** moa: one task holding every judge's vote, for the lead judge. */
  public static class MergeVotesFn extends DoFn<KV<String, Iterable<JudgeTask>>, JudgeTask> {
    private static final long serialVersionUID = 1L;
    private final DpoTopology topology;

    public MergeVotesFn(DpoTopology topology) {
      this.topology = topology;
    }

    @ProcessElement
    public void process(@Element KV<String, Iterable<JudgeTask>> group, OutputReceiver<JudgeTask> out) {
      out.output(mergeVotes(group.getValue(), topology));
    }
  }

  /** The votes of one ordered pair's judges, arrived as one task each, merged into one task. */
  static JudgeTask mergeVotes(Iterable<JudgeTask> tasks, DpoTopology topology) {
    JudgeTask first = null;
    List<JudgeVote> votes = new ArrayList<>();
    for (JudgeTask t : tasks) {
      first = first == null ? t : first;
      votes.addAll(t.getVotes());
    }
    return DpoSteps.withVotes(topology, JudgeTask.newBuilder(first).setVotes(List.of()).build(), votes);
  }

  /** moa: the lead judge reads every evaluation and decides. */
  public static class LeadJudgeFn extends ModelCallFn<JudgeTask, Judgment> {
    private static final long serialVersionUID = 1L;
    public static final TupleTag<Judgment> DECIDED = new TupleTag<>() {};

    public LeadJudgeFn(ModelEndpoint lead) {
      super(lead);
    }

    @Override
    protected Planned plan(JudgeTask t) {
      ChatRequest r = DpoSteps.leadRequest(t);
      return r == null ? null : new Planned(r, DpoSteps.leadTemplate(), "lead_judge", t.getFirst(), t.getSecond(),
          JudgePrompts.verdictRepair(r), DpoSteps.repairTemplate());
    }

    @Override
    protected void handleWithoutCall(JudgeTask t, Emitter out) {
      // a judge call failed outright: nothing for the lead judge to read
      out.output(DECIDED, DpoSteps.withoutLead(t));
    }

    @Override
    protected void handle(JudgeTask t, Call call, Emitter out) {
      handleAll(t, List.of(call), out);
    }

    @Override
    protected void handleAll(JudgeTask t, List<Call> calls, Emitter out) {
      out.output(DECIDED, DpoSteps.decided(t, DpoSteps.vote(endpoint.name(), calls)));
    }
  }
}

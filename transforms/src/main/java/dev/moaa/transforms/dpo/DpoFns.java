package dev.moaa.transforms.dpo;

import dev.moaa.schemas.Call;
import dev.moaa.schemas.Candidate;
import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.DpoGather;
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
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.values.KV;
import org.apache.beam.sdk.values.TupleTag;

/** The DoFns of MoAA-DPO. Each adapts plain logic ({@link Verdicts}, {@link PreferenceScoring}, …). */
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
  /** One element per candidate to sample: (index, work). */
  public static class FanOutCandidatesFn extends DoFn<DpoWork, KV<Integer, DpoWork>> {
    private static final long serialVersionUID = 1L;
    private final int k;

    public FanOutCandidatesFn(int k) {
      this.k = k;
    }

    @ProcessElement
    public void process(@Element DpoWork w, OutputReceiver<KV<Integer, DpoWork>> out) {
      for (int i = 0; i < k; i++) {
        out.output(KV.of(i, w));
      }
    }
  }

  /** Samples candidate {@code index} from the policy with seed {@code base + index}. */
  public static class SampleFn extends ModelCallFn<KV<Integer, DpoWork>, KV<String, DpoWork>> {
    private static final long serialVersionUID = 1L;
    public static final TupleTag<KV<String, DpoWork>> SAMPLED = new TupleTag<>() {};
    private final long seedBase;

    public SampleFn(DpoTopology t) {
      super(t.policy());
      this.seedBase = t.seedBase();
    }

    @Override
    protected Planned plan(KV<Integer, DpoWork> e) {
      return new Planned(ChatRequest.of(e.getValue().getPrompt()).withSeed(seedBase + e.getKey()), null,
          "policy", 0, e.getKey());
    }

    @Override
    protected void handle(KV<Integer, DpoWork> e, Call call, Emitter out) {
      Candidate c = new Candidate(e.getKey(), seedBase + e.getKey(), call.getOk() ? call.getContent() : null, null, null, call);
      DpoWork w = DpoWork.newBuilder(e.getValue()).setCandidates(List.of(c)).build();
      out.output(SAMPLED, KV.of(w.getConversation().getId(), w));
    }
  }

  /** All K candidates in one call with {@code n = K}. */
  public static class SampleAllFn extends ModelCallFn<DpoWork, DpoWork> {
    private static final long serialVersionUID = 1L;
    public static final TupleTag<DpoWork> SAMPLED = new TupleTag<>() {};
    private final int k;
    private final long seedBase;

    public SampleAllFn(DpoTopology t) {
      super(t.policy());
      this.k = t.k();
      this.seedBase = t.seedBase();
    }

    @Override
    protected Planned plan(DpoWork w) {
      return new Planned(ChatRequest.of(w.getPrompt()).withSeed(seedBase).withN(k), null, "policy", 0, 0);
    }

    @Override
    protected void handle(DpoWork w, Call call, Emitter out) {
      List<String> texts = call.getOk() ? choices(call) : List.of();
      List<Candidate> cs = new ArrayList<>();
      for (int i = 0; i < k; i++) {
        cs.add(new Candidate(i, seedBase, i < texts.size() ? texts.get(i) : null, null, null, call));
      }
      out.output(SAMPLED, mergeCandidates(w, cs));
    }

    private static List<String> choices(Call call) {
      return call.getChoices().isEmpty() ? List.of(call.getContent()) : call.getChoices();
    }
  }

  /** The K single-candidate copies of a prompt's work, merged; identical texts are marked. */
  public static class MergeCandidatesFn extends DoFn<KV<String, Iterable<DpoWork>>, DpoWork> {
    private static final long serialVersionUID = 1L;

    @ProcessElement
    public void process(@Element KV<String, Iterable<DpoWork>> group, OutputReceiver<DpoWork> out) {
      DpoWork first = null;
      List<Candidate> cs = new ArrayList<>();
      for (DpoWork w : group.getValue()) {
        first = first == null ? w : first;
        cs.addAll(w.getCandidates());
      }
      out.output(mergeCandidates(first, cs));
    }
  }

  static DpoWork mergeCandidates(DpoWork w, List<Candidate> cs) {
    List<Candidate> sorted = new ArrayList<>(cs);
    sorted.sort(Comparator.comparingInt(Candidate::getIndex));
    Map<String, Integer> firstByText = new HashMap<>();
    List<Candidate> marked = new ArrayList<>();
    for (Candidate c : sorted) {
      Candidate.Builder b = Candidate.newBuilder(c);
      if (c.getContent() != null) {
        Integer earlier = firstByText.putIfAbsent(c.getContent().strip(), c.getIndex());
        b.setDuplicateOf(earlier);
      }
      marked.add(b.build());
    }
    return DpoWork.newBuilder(w).setCandidates(marked).build();
  }

  // ---------------------------------------------------------------------------------------------
  /** Picks the prompt's criteria with the criteria model; falls back to a fixed set when unusable. */
  public static class SelectCriteriaFn extends ModelCallFn<DpoWork, DpoWork> {
    private static final long serialVersionUID = 1L;
    public static final TupleTag<DpoWork> SELECTED = new TupleTag<>() {};
    private final int count;

    public SelectCriteriaFn(DpoTopology t) {
      super(t.criteriaModel());
      this.count = t.criteriaCount();
    }

    @Override
    protected Planned plan(DpoWork w) {
      return new Planned(JudgePrompts.criteria(w.getPrompt(), count),
          dev.moaa.prompts.PromptTemplate.load(JudgePrompts.CRITERIA_V1).version(), "criteria", 0, 0);
    }

    @Override
    protected void handle(DpoWork w, Call call, Emitter out) {
      List<String> picked = call.getOk()
          ? JudgingCriteria.keepKnown(Verdicts.parseCriteria(call.getContent()), count) : List.of();
      boolean usable = !picked.isEmpty();
      out.output(SELECTED, DpoWork.newBuilder(w)
          .setCriteria(usable ? picked : JudgingCriteria.FALLBACK.subList(0, Math.min(count, JudgingCriteria.FALLBACK.size())))
          .setCriteriaSource(usable ? "judge" : "default")
          .setCriteriaCall(call)
          .build());
    }
  }

  // ---------------------------------------------------------------------------------------------
  /**
   * Every unordered pair of distinct successful candidates, in both orders, as judge tasks; and the
   * work itself, keyed by prompt, telling the gather how many judgments to wait for. Fewer than two
   * successful candidates is a dead letter; fewer than two distinct texts is a drop.
   */
  public static class ExpandPairsFn extends DoFn<DpoWork, JudgeTask> {
    private static final long serialVersionUID = 1L;
    public static final TupleTag<JudgeTask> TASKS = new TupleTag<>() {};
    public static final TupleTag<KV<String, DpoGather>> HEADERS = new TupleTag<>() {};

    @ProcessElement
    public void process(@Element DpoWork w, MultiOutputReceiver out) {
      List<Candidate> ok = new ArrayList<>();
      int succeeded = 0;
      for (Candidate c : w.getCandidates()) {
        if (c.getContent() != null) {
          succeeded++;
          if (c.getDuplicateOf() == null) {
            ok.add(c);
          }
        }
      }
      Conversation conv = w.getConversation();
      List<Call> sampling = new ArrayList<>();
      w.getCandidates().forEach(c -> sampling.add(c.getCall()));
      if (DeadLetters.refusedForBudget(sampling)) {
        out.get(FAILED).output(DeadLetters.forConversation("sample", DeadLetters.BUDGET,
            "the run's budget stopped sampling: " + DeadLetters.describeFailures(sampling), conv, null, sampling));
        return;
      }
      if (succeeded < 2) {
        List<Call> calls = new ArrayList<>();
        w.getCandidates().forEach(c -> calls.add(c.getCall()));
        out.get(FAILED).output(DeadLetters.forConversation("sample", "not_enough_candidates",
            succeeded + " of " + w.getCandidates().size() + " candidates were sampled; 2 are needed. "
                + DeadLetters.describeFailures(calls), conv, null, calls));
        return;
      }
      if (ok.size() < 2) {
        out.get(DROPPED).output(new Dropped("identical_candidates", conv.getId(), conv.getSource(), conv.getLine(),
            "all " + succeeded + " candidates have the same text", null, null));
        return;
      }
      int tasks = 0;
      for (Candidate a : ok) {
        for (Candidate b : ok) {
          if (a.getIndex() != b.getIndex()) {
            out.get(TASKS).output(new JudgeTask(conv.getId(), w.getPrompt(), w.getCriteria(), a.getIndex(),
                b.getIndex(), a.getContent(), b.getContent(), List.of()));
            tasks++;
          }
        }
      }
      DpoWork header = DpoWork.newBuilder(w).setExpectedJudgments(tasks).build();
      out.get(HEADERS).output(KV.of(conv.getId(), new DpoGather(header, null)));
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
      ChatRequest r = JudgePrompts.pairwise(t.getPrompt(), t.getCriteria(), t.getAnswerA(), t.getAnswerB());
      return new Planned(r, dev.moaa.prompts.PromptTemplate.load(JudgePrompts.PAIRWISE_V1).version(), "judge",
          t.getFirst(), t.getSecond(), JudgePrompts.verdictRepair(r),
          dev.moaa.prompts.PromptTemplate.load(JudgePrompts.REPAIR_V1).version());
    }

    @Override
    protected void handle(JudgeTask t, Call call, Emitter out) {
      handleAll(t, List.of(call), out);
    }

    @Override
    protected void handleAll(JudgeTask t, List<Call> calls, Emitter out) {
      List<JudgeVote> votes = new ArrayList<>(t.getVotes());
      votes.add(vote(endpoint.name(), calls));
      JudgeTask next = JudgeTask.newBuilder(t).setVotes(votes).build();
      out.output(VOTED, KV.of(taskKey(next), next));
    }
  }

  /** The vote of a judgment call and its optional repair: the repair's verdict wins when it was needed. */
  static JudgeVote vote(String model, List<Call> calls) {
    Call first = calls.get(0);
    Optional<String> verdict = first.getOk() ? Verdicts.parse(first.getContent()) : Optional.empty();
    if (verdict.isEmpty() && calls.size() > 1 && calls.get(1).getOk()) {
      verdict = Verdicts.parse(calls.get(1).getContent());
    }
    return new JudgeVote(model, verdict.orElse(null), first.getOk() ? first.getContent() : null, calls);
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
      JudgeTask t = mergeVotes(group.getValue(), topology);
      out.output(new Judgment(t.getPromptId(), t.getFirst(), t.getSecond(), majority(t.getVotes()), t.getVotes(), null));
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

  static JudgeTask mergeVotes(Iterable<JudgeTask> tasks, DpoTopology topology) {
    JudgeTask first = null;
    List<JudgeVote> votes = new ArrayList<>();
    for (JudgeTask t : tasks) {
      first = first == null ? t : first;
      votes.addAll(t.getVotes());
    }
    votes.sort(Comparator.comparingInt((JudgeVote v) -> topology.judgeIndex(v.getModel())).thenComparing(JudgeVote::getModel));
    return JudgeTask.newBuilder(first).setVotes(votes).build();
  }

  /** Strict majority of A against B; a missing verdict makes the whole judgment unreadable (null). */
  static String majority(List<JudgeVote> votes) {
    int a = 0;
    int b = 0;
    for (JudgeVote v : votes) {
      if (v.getVerdict() == null) {
        return null;
      }
      a += Verdicts.A.equals(v.getVerdict()) ? 1 : 0;
      b += Verdicts.B.equals(v.getVerdict()) ? 1 : 0;
    }
    return a > b ? Verdicts.A : b > a ? Verdicts.B : Verdicts.TIE;
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
      for (JudgeVote v : t.getVotes()) {
        if (v.getRationale() == null) {
          return null;
        }
      }
      ChatRequest r = JudgePrompts.aggregate(t.getPrompt(), t.getCriteria(), t.getAnswerA(), t.getAnswerB(), t.getVotes());
      return new Planned(r, dev.moaa.prompts.PromptTemplate.load(JudgePrompts.AGGREGATE_V1).version(), "lead_judge",
          t.getFirst(), t.getSecond(), JudgePrompts.verdictRepair(r),
          dev.moaa.prompts.PromptTemplate.load(JudgePrompts.REPAIR_V1).version());
    }

    @Override
    protected void handleWithoutCall(JudgeTask t, Emitter out) {
      // a judge call failed outright: nothing for the lead judge to read
      out.output(DECIDED, new Judgment(t.getPromptId(), t.getFirst(), t.getSecond(), null, t.getVotes(), null));
    }

    @Override
    protected void handle(JudgeTask t, Call call, Emitter out) {
      handleAll(t, List.of(call), out);
    }

    @Override
    protected void handleAll(JudgeTask t, List<Call> calls, Emitter out) {
      JudgeVote lead = vote(endpoint.name(), calls);
      out.output(DECIDED, new Judgment(t.getPromptId(), t.getFirst(), t.getSecond(), lead.getVerdict(), t.getVotes(), lead));
    }
  }
}

package dev.moaa.transforms.dpo;

import dev.moaa.prompts.PromptTemplate;
import dev.moaa.schemas.Call;
import dev.moaa.schemas.Candidate;
import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.DpoRecord;
import dev.moaa.schemas.DpoWork;
import dev.moaa.schemas.Dropped;
import dev.moaa.schemas.JudgeTask;
import dev.moaa.schemas.JudgeVote;
import dev.moaa.schemas.Judgment;
import dev.moaa.schemas.Message;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.moa.DeadLetters;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The decisions of one prompt's DPO chain, free of Beam and of I/O: what each call sends (sampling,
 * criteria, judge, lead judge), how candidates are de-duplicated and expanded into ordered pairs,
 * how votes become a judgment, and how judgments become a preference row, a drop or a dead letter.
 * {@link DpoChainFn} strings them together per prompt; {@link JudgingChainFn#judgePair} judges
 * one ordered pair with them, for the DPO chain and for judge evaluation ({@link JudgePairsChainFn}).
 */
final class DpoSteps {
  private DpoSteps() {}

  // ---------------------------------------------------------------------------------------------
  // Sampling

  /** Candidate {@code index} from the policy, with seed {@code base + index}. */
  static ChatRequest sampleRequest(DpoTopology t, DpoWork w, int index) {
    return ChatRequest.of(w.getPrompt()).withSeed(t.seedBase() + index);
  }

  /** All K candidates in one call with {@code n = K} and seed {@code base}. */
  static ChatRequest sampleAllRequest(DpoTopology t, DpoWork w) {
    return ChatRequest.of(w.getPrompt()).withSeed(t.seedBase()).withN(t.k());
  }

  /** The work with candidate {@code i} from {@code calls.get(i)} (one call per candidate), de-duplicated. */
  static DpoWork sampled(DpoTopology t, DpoWork w, List<Call> calls) {
    List<Candidate> cs = new ArrayList<>();
    for (int i = 0; i < calls.size(); i++) {
      Call call = calls.get(i);
      cs.add(new Candidate(i, t.seedBase() + i, call.getOk() ? call.getContent() : null, null, null, call));
    }
    return mergeCandidates(w, cs);
  }

  /** The work with the K candidates of one n-call (missing choices are failed candidates), de-duplicated. */
  static DpoWork sampledAll(DpoTopology t, DpoWork w, Call call) {
    List<String> texts = call.getOk() ? (call.getChoices().isEmpty() ? List.of(call.getContent()) : call.getChoices())
        : List.of();
    List<Candidate> cs = new ArrayList<>();
    for (int i = 0; i < t.k(); i++) {
      cs.add(new Candidate(i, t.seedBase(), i < texts.size() ? texts.get(i) : null, null, null, call));
    }
    return mergeCandidates(w, cs);
  }

  /** Candidates in index order; a candidate whose stripped text equals an earlier one's is marked its duplicate. */
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
  // Criteria

  static ChatRequest criteriaRequest(DpoTopology t, DpoWork w) {
    return JudgePrompts.criteria(w.getPrompt(), t.criteriaCount());
  }

  static String criteriaTemplate() {
    return PromptTemplate.load(JudgePrompts.CRITERIA_V1).version();
  }

  /** The criteria the call picked, or the fixed fallback when the call failed or named none we know. */
  static DpoWork withCriteria(DpoTopology t, DpoWork w, Call call) {
    int count = t.criteriaCount();
    List<String> picked = call.getOk()
        ? JudgingCriteria.keepKnown(Verdicts.parseCriteria(call.getContent()), count) : List.of();
    boolean usable = !picked.isEmpty();
    return DpoWork.newBuilder(w)
        .setCriteria(usable ? picked : JudgingCriteria.FALLBACK.subList(0, Math.min(count, JudgingCriteria.FALLBACK.size())))
        .setCriteriaSource(usable ? "judge" : "default")
        .setCriteriaCall(call)
        .build();
  }

  // ---------------------------------------------------------------------------------------------
  // Pairs

  /**
   * A prompt's ordered pairs to judge ({@code work} then tells how many judgments to expect), or
   * why there are none: a dead letter when the budget stopped sampling or fewer than two candidates
   * were sampled, a drop when fewer than two distinct texts remain.
   */
  record Expansion(DpoWork work, List<JudgeTask> tasks, DeadLetter failed, Dropped dropped) {}

  /** Every unordered pair of distinct successful candidates, in both orders, in index order. */
  static Expansion expand(DpoWork w) {
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
      return new Expansion(w, List.of(), DeadLetters.forConversation("sample", DeadLetters.BUDGET,
          "the run's budget stopped sampling: " + DeadLetters.describeFailures(sampling), conv, null, sampling), null);
    }
    if (DeadLetters.coordinationLost(sampling)) {
      return new Expansion(w, List.of(), DeadLetters.forConversation("sample", DeadLetters.COORDINATION,
          DeadLetters.coordinationError(sampling), conv, null, sampling), null);
    }
    if (succeeded < 2) {
      return new Expansion(w, List.of(), DeadLetters.forConversation("sample", "not_enough_candidates",
          succeeded + " of " + w.getCandidates().size() + " candidates were sampled; 2 are needed. "
              + DeadLetters.describeFailures(sampling), conv, null, sampling), null);
    }
    if (ok.size() < 2) {
      return new Expansion(w, List.of(), null, new Dropped("identical_candidates", conv.getId(), conv.getSource(),
          conv.getLine(), "all " + succeeded + " candidates have the same text: the policy endpoint did not honour"
              + " sampling (a greedy server, temperature 0, or seeds and n ignored); set a temperature above 0 on"
              + " the policy model and check that its server samples", null, null));
    }
    List<JudgeTask> tasks = new ArrayList<>();
    for (Candidate a : ok) {
      for (Candidate b : ok) {
        if (a.getIndex() != b.getIndex()) {
          tasks.add(new JudgeTask(conv.getId(), w.getPrompt(), w.getCriteria(), a.getIndex(), b.getIndex(),
              a.getContent(), b.getContent(), List.of()));
        }
      }
    }
    return new Expansion(DpoWork.newBuilder(w).setExpectedJudgments(tasks.size()).build(), tasks, null, null);
  }

  // ---------------------------------------------------------------------------------------------
  // Judging one ordered pair

  static ChatRequest judgeRequest(JudgeTask t) {
    return JudgePrompts.pairwise(t.getPrompt(), t.getCriteria(), t.getAnswerA(), t.getAnswerB());
  }

  static String judgeTemplate() {
    return PromptTemplate.load(JudgePrompts.PAIRWISE_V1).version();
  }

  static String repairTemplate() {
    return PromptTemplate.load(JudgePrompts.REPAIR_V1).version();
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

  /** The task with every judge's vote, in the configured order of the judges whatever order they came in. */
  static JudgeTask withVotes(DpoTopology topology, JudgeTask task, List<JudgeVote> votes) {
    List<JudgeVote> sorted = new ArrayList<>(task.getVotes());
    sorted.addAll(votes);
    sorted.sort(Comparator.comparingInt((JudgeVote v) -> topology.judgeIndex(v.getModel())).thenComparing(JudgeVote::getModel));
    return JudgeTask.newBuilder(task).setVotes(sorted).build();
  }

  /** jury and single: the strict majority of the votes decides. */
  static Judgment pooled(JudgeTask t) {
    return new Judgment(t.getPromptId(), t.getFirst(), t.getSecond(), majority(t.getVotes()), t.getVotes(), null);
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

  /** moa: the lead judge's request over every evaluation; null when a judge call failed outright. */
  static ChatRequest leadRequest(JudgeTask t) {
    for (JudgeVote v : t.getVotes()) {
      if (v.getRationale() == null) {
        return null;
      }
    }
    return JudgePrompts.aggregate(t.getPrompt(), t.getCriteria(), t.getAnswerA(), t.getAnswerB(), t.getVotes());
  }

  static String leadTemplate() {
    return PromptTemplate.load(JudgePrompts.AGGREGATE_V1).version();
  }

  /** moa, a judge call failed: nothing for the lead judge to read, no verdict. */
  static Judgment withoutLead(JudgeTask t) {
    return new Judgment(t.getPromptId(), t.getFirst(), t.getSecond(), null, t.getVotes(), null);
  }

  /** moa: the lead judge's vote decides. */
  static Judgment decided(JudgeTask t, JudgeVote lead) {
    return new Judgment(t.getPromptId(), t.getFirst(), t.getSecond(), lead.getVerdict(), t.getVotes(), lead);
  }

  // ---------------------------------------------------------------------------------------------
  // Scoring

  /**
   * What a prompt's judgments lead to: a preference row, a drop with the reason, or a dead letter;
   * and, for the metrics, the pairs scored and how many of them were position-inconsistent.
   */
  record Scored(DpoRecord record, Dropped dropped, DeadLetter failed, int pairs, int inconsistentPairs) {}

  /** The work with its judgments in (first, second) order. */
  static DpoWork withJudgments(DpoWork w, List<Judgment> judgments) {
    List<Judgment> all = new ArrayList<>(judgments);
    all.sort(Comparator.comparingInt(Judgment::getFirst).thenComparingInt(Judgment::getSecond));
    return DpoWork.newBuilder(w).setJudgments(all).build();
  }

  /**
   * Scores the candidates of {@code w} from its judgments ({@link PreferenceScoring}). A budget
   * refusal among the judge calls, a failed judge call or a verdict unreadable after the repair
   * dead-letters the prompt with the calls behind it.
   */
  static Scored score(DpoTopology topology, String configHash, DpoWork w) {
    List<Call> every = new ArrayList<>();
    for (Judgment j : w.getJudgments()) {
      j.getVotes().forEach(v -> every.addAll(v.getCalls()));
      if (j.getLead() != null) {
        every.addAll(j.getLead().getCalls());
      }
    }
    if (DeadLetters.refusedForBudget(every)) {
      // A verdict from fewer judges than configured would differ from a run with budget left.
      List<Call> refused = every.stream().filter(c -> !c.getOk()).toList();
      return failed(DeadLetters.forConversation("judge", DeadLetters.BUDGET,
          "the run's budget stopped judge calls: " + DeadLetters.describeFailures(refused),
          w.getConversation(), null, refused));
    }
    List<Call> unusable = new ArrayList<>();
    boolean callFailed = false;
    for (Judgment j : w.getJudgments()) {
      if (j.getVerdict() == null) {
        List<JudgeVote> all = new ArrayList<>(j.getVotes());
        if (j.getLead() != null) {
          all.add(j.getLead());
        }
        for (JudgeVote v : all) {
          for (Call c : v.getCalls()) {
            unusable.add(c);
            callFailed |= !c.getOk();
          }
        }
      }
    }
    if (!unusable.isEmpty()) {
      String reason = callFailed ? DeadLetters.reason("judge_failed", unusable) : "malformed_verdict";
      String error = callFailed
          ? "a judge call failed after retries: " + DeadLetters.describeFailures(unusable)
          : "a judge's reply had no verdict line, also after the repair request; the raw replies are in calls";
      return failed(DeadLetters.forConversation("judge", reason, error, w.getConversation(), null, unusable));
    }
    List<Integer> eligible = new ArrayList<>();
    for (Candidate c : w.getCandidates()) {
      if (c.getContent() != null && c.getDuplicateOf() == null) {
        eligible.add(c.getIndex());
      }
    }
    PreferenceScoring.Outcome o = PreferenceScoring.score(eligible, w.getJudgments(), topology.scoring(), topology.minMargin());
    if (o.dropped()) {
      Conversation conv = w.getConversation();
      return new Scored(null, new Dropped(o.dropReason(), conv.getId(), conv.getSource(), conv.getLine(), o.detail(),
          null, null), null, o.pairs().size(), o.inconsistentPairs());
    }
    long[] tokens = tokens(w);
    List<Candidate> scored = new ArrayList<>();
    for (Candidate c : w.getCandidates()) {
      Integer from = c.getDuplicateOf() != null ? c.getDuplicateOf() : c.getContent() != null ? c.getIndex() : null;
      scored.add(Candidate.newBuilder(c).setScore(from == null ? null : o.scores().get(from)).build());
    }
    DpoRecord record = DpoRecord.newBuilder()
        .setId(w.getConversation().getId())
        .setPrompt(w.getPrompt())
        .setChosen(List.of(new Message("assistant", content(w, o.chosen()))))
        .setRejected(List.of(new Message("assistant", content(w, o.rejected()))))
        .setScoreChosen(o.scores().get(o.chosen()))
        .setScoreRejected(o.scores().get(o.rejected()))
        .setChosenIndex(o.chosen())
        .setRejectedIndex(o.rejected())
        .setScoring(topology.scoring().wireName())
        .setCandidates(scored)
        .setPairs(o.pairs())
        .setCriteria(w.getCriteria())
        .setCriteriaSource(w.getCriteriaSource())
        .setJudgeMode(topology.mode().wireName())
        .setJudgeModels(topology.judgeNames())
        .setLeadJudgeModel(topology.lead() == null ? null : topology.lead().name())
        .setPolicyModel(topology.policy().name())
        .setTemplates(JudgePrompts.versions())
        .setSource(w.getConversation().getSource())
        .setSourceLine(w.getConversation().getLine())
        .setPromptTokens(tokens[0])
        .setCompletionTokens(tokens[1])
        .setConfigHash(configHash)
        .build();
    return new Scored(record, null, null, o.pairs().size(), o.inconsistentPairs());
  }

  private static Scored failed(DeadLetter d) {
    return new Scored(null, null, d, 0, 0);
  }

  private static String content(DpoWork w, int index) {
    for (Candidate c : w.getCandidates()) {
      if (c.getIndex() == index) {
        return c.getContent();
      }
    }
    throw new IllegalStateException("no candidate " + index);
  }

  /**
   * Prompt and completion tokens of every distinct call behind the row, in one pass; a call shared
   * by several candidates (one n-call) counts once.
   */
  static long[] tokens(DpoWork w) {
    List<Call> all = new ArrayList<>();
    w.getCandidates().forEach(c -> all.add(c.getCall()));
    if (w.getCriteriaCall() != null) {
      all.add(w.getCriteriaCall());
    }
    for (Judgment j : w.getJudgments()) {
      j.getVotes().forEach(v -> all.addAll(v.getCalls()));
      if (j.getLead() != null) {
        all.addAll(j.getLead().getCalls());
      }
    }
    Set<String> seen = new HashSet<>();
    long[] sum = new long[2];
    for (Call c : all) {
      if (seen.add(c.getRequestHash() + "|" + c.getModel() + "|" + c.getRole())) {
        sum[0] += c.getPromptTokens();
        sum[1] += c.getCompletionTokens();
      }
    }
    return sum;
  }
}

package dev.moaa.transforms.dpo;

import dev.moaa.schemas.Call;
import dev.moaa.schemas.Candidate;
import dev.moaa.schemas.DpoRecord;
import dev.moaa.schemas.DpoWork;
import dev.moaa.schemas.Dropped;
import dev.moaa.schemas.JudgeVote;
import dev.moaa.schemas.Judgment;
import dev.moaa.schemas.Message;
import dev.moaa.transforms.moa.DeadLetters;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.beam.sdk.metrics.Counter;
import org.apache.beam.sdk.metrics.Metrics;
import org.apache.beam.sdk.transforms.DoFn;
import org.apache.beam.sdk.values.TupleTag;

/**
 * Scores a prompt's candidates from its judgments and writes the preference row; or drops the
 * prompt with the reason ({@link PreferenceScoring}); or, when a judgment has no readable verdict
 * (even after the repair) or a judge call failed, dead-letters it with the raw judge text.
 */
public class ScorePromptFn extends DoFn<DpoWork, DpoRecord> {
  private static final long serialVersionUID = 1L;
  public static final TupleTag<DpoRecord> RECORDS = new TupleTag<>() {};

  private final DpoTopology topology;
  private final String configHash;
  private final Counter inconsistent = Metrics.counter("moaa", "position_inconsistent_pairs");
  private final Counter pairs = Metrics.counter("moaa", "judged_pairs");

  public ScorePromptFn(DpoTopology topology, String configHash) {
    this.topology = topology;
    this.configHash = configHash;
  }

  @ProcessElement
  public void process(@Element DpoWork w, MultiOutputReceiver out) {
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
      out.get(DpoFns.FAILED).output(DeadLetters.forConversation("judge", DeadLetters.BUDGET,
          "the run's budget stopped judge calls: " + DeadLetters.describeFailures(refused),
          w.getConversation(), null, refused));
      return;
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
      out.get(DpoFns.FAILED).output(DeadLetters.forConversation("judge", reason, error, w.getConversation(), null, unusable));
      return;
    }
    List<Integer> eligible = new ArrayList<>();
    for (Candidate c : w.getCandidates()) {
      if (c.getContent() != null && c.getDuplicateOf() == null) {
        eligible.add(c.getIndex());
      }
    }
    PreferenceScoring.Outcome o = PreferenceScoring.score(eligible, w.getJudgments(), topology.scoring(), topology.minMargin());
    pairs.inc(o.pairs().size());
    inconsistent.inc(o.inconsistentPairs());
    if (o.dropped()) {
      out.get(DpoFns.DROPPED).output(new Dropped(o.dropReason(), w.getConversation().getId(),
          w.getConversation().getSource(), w.getConversation().getLine(), o.detail(), null, null));
      return;
    }
    long[] tokens = tokens(w);
    List<Candidate> scored = new ArrayList<>();
    for (Candidate c : w.getCandidates()) {
      Integer from = c.getDuplicateOf() != null ? c.getDuplicateOf() : c.getContent() != null ? c.getIndex() : null;
      scored.add(Candidate.newBuilder(c).setScore(from == null ? null : o.scores().get(from)).build());
    }
    out.get(RECORDS).output(DpoRecord.newBuilder()
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
        .build());
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

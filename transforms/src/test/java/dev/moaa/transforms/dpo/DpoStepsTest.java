package dev.moaa.transforms.dpo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.schemas.Call;
import dev.moaa.schemas.Candidate;
import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.DpoWork;
import dev.moaa.schemas.JudgeTask;
import dev.moaa.schemas.JudgeVote;
import dev.moaa.schemas.Judgment;
import dev.moaa.schemas.Message;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.moa.Calls;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The pure steps of the DPO chain: requests and their cache keys, candidates, pairs, votes, scores. */
class DpoStepsTest {
  private static final ModelEndpoint JUDGE = ModelEndpoint.builder("j1", "http://judge.example/v1", "judge-model").build();
  private static final ModelEndpoint LEAD = ModelEndpoint.builder("lead", "http://lead.example/v1", "lead-model").build();
  private static final ModelEndpoint POLICY = ModelEndpoint.builder("policy", "http://policy.example/v1", "policy-model").build();
  private static final DpoTopology MOA = DpoTopology.of(POLICY, JudgeMode.MOA, List.of(JUDGE), LEAD);
  private static final List<Message> PROMPT = List.of(new Message("user", "Explain idempotency."));

  private static DpoWork work() {
    Conversation c = Conversation.newBuilder().setId("p").setSource("mem").setLine(3).setFormat("prompt")
        .setSystem(null).setTurns(List.of("Explain idempotency.")).build();
    return DpoWork.newBuilder().setConversation(c).setPrompt(PROMPT).build();
  }

  private static Call ok(String model, String content) {
    return Call.newBuilder().setModel(model).setModelId(model).setRole("x").setTurn(0).setLayer(0).setOk(true)
        .setContent(content).setPromptTokens(10).setCompletionTokens(2).setRequestHash(content).build();
  }

  private static Call failed(String model, String kind) {
    return Call.newBuilder().setModel(model).setModelId(model).setRole("x").setTurn(0).setLayer(0).setOk(false)
        .setErrorKind(kind).setAttempts(kind.equals("budget") ? 0 : 3).setError("no").setRequestHash("f").build();
  }

  /**
   * Cache keys as the staged graph made them (computed with the build before the chain): a rerun
   * of an old run's prompts is answered from the cache.
   */
  @Test
  void requests_hashAsTheStagedGraphHashedThem() {
    DpoWork w = work();
    assertEquals("490861ff6e4dc487ba1c48413aab4196cc287287c67adbd8f9d0d56dfe19e32f",
        Calls.requestHash(MOA.policy(), DpoSteps.sampleRequest(MOA, w, 2), null));
    assertEquals("56b509aa5eea35ea46f510bb7bfe172a0afc9672f7796615e0ea57a9357fa475",
        Calls.requestHash(MOA.policy(), DpoSteps.sampleAllRequest(MOA, w), null));
    assertEquals("064b82e57107e1bbe0ee54266704cf636e95490da53ab5b68c5d57fafa15973a",
        Calls.requestHash(MOA.criteriaModel(), DpoSteps.criteriaRequest(MOA, w), DpoSteps.criteriaTemplate()));
    JudgeTask task = new JudgeTask("p", PROMPT, List.of("accuracy", "depth"), 0, 1, "answer one", "answer two", List.of());
    ChatRequest judge = DpoSteps.judgeRequest(task);
    assertEquals("0a027b57e46efcf374822bab0c84463ee12bab2dae2c8d7a546066322e5ce56b",
        Calls.requestHash(JUDGE, judge, DpoSteps.judgeTemplate()));
    JudgeTask voted = DpoSteps.withVotes(MOA, task, List.of(new JudgeVote("j1", "A", "one is better\nVERDICT: A", List.of())));
    assertEquals("2020b3641b1530f195bdd6e6cf5b17d64237a31db6edd1ae8faaceb265eab9d7",
        Calls.requestHash(LEAD, DpoSteps.leadRequest(voted), DpoSteps.leadTemplate()));
    assertEquals("967d75168597e4778be751f5ece486d038b6d7f135f6ea6fc12bd119a7bc6348",
        Calls.requestHash(JUDGE, JudgePrompts.verdictRepair(judge).apply("no verdict here"), DpoSteps.repairTemplate()));
  }

  @Test
  void sampled_marksLaterCopiesOfATextAsDuplicates_ignoringSurroundingSpace() {
    DpoWork w = DpoSteps.sampled(MOA, work(), List.of(ok("policy", "x"), ok("policy", " x \n"), failed("policy", "timeout"), ok("policy", "y")));
    List<Candidate> cs = w.getCandidates();
    assertNull(cs.get(0).getDuplicateOf());
    assertEquals(0, cs.get(1).getDuplicateOf());
    assertNull(cs.get(2).getContent());
    assertNull(cs.get(2).getDuplicateOf());
    assertEquals(3L, cs.get(3).getSeed());
  }

  @Test
  void expand_pairsEveryDistinctSuccessfulCandidateInBothOrders() {
    DpoWork w = DpoSteps.sampled(MOA, work(), List.of(ok("policy", "a"), ok("policy", "a"), ok("policy", "b"), ok("policy", "c")));
    DpoSteps.Expansion e = DpoSteps.expand(w);
    assertNull(e.failed());
    assertNull(e.dropped());
    List<String> pairs = e.tasks().stream().map(t -> t.getFirst() + "" + t.getSecond()).toList();
    assertEquals(List.of("02", "03", "20", "23", "30", "32"), pairs);
    assertEquals(6, e.work().getExpectedJudgments());
  }

  @Test
  void expand_deadLettersTooFewCandidatesAndBudgetRefusals_andDropsIdenticalOnes() {
    DpoSteps.Expansion few = DpoSteps.expand(DpoSteps.sampled(MOA, work(), List.of(ok("policy", "a"), failed("policy", "timeout"))));
    assertEquals("not_enough_candidates", few.failed().getReason());
    assertEquals("sample", few.failed().getStage());
    assertTrue(few.failed().getError().startsWith("1 of 2 candidates were sampled; 2 are needed. policy: timeout after 3 attempt(s)"));

    DpoSteps.Expansion budget = DpoSteps.expand(DpoSteps.sampled(MOA, work(),
        List.of(ok("policy", "a"), ok("policy", "b"), failed("policy", "budget"))));
    assertEquals("budget", budget.failed().getReason());

    DpoSteps.Expansion same = DpoSteps.expand(DpoSteps.sampled(MOA, work(), List.of(ok("policy", "a"), ok("policy", "a "))));
    assertEquals("identical_candidates", same.dropped().getReason());
    assertTrue(same.dropped().getDetail().startsWith("all 2 candidates have the same text: the policy endpoint did not honour sampling"), same.dropped().getDetail());
  }

  @Test
  void criteria_unusableReplyFallsBackToTheFixedSet() {
    DpoWork picked = DpoSteps.withCriteria(MOA, work(), ok("lead", "why\nCRITERIA: depth, nonsense, clarity"));
    assertEquals(List.of("depth", "clarity"), picked.getCriteria());
    assertEquals("judge", picked.getCriteriaSource());
    DpoWork fallback = DpoSteps.withCriteria(MOA, work(), failed("lead", "timeout"));
    assertEquals(JudgingCriteria.FALLBACK, fallback.getCriteria());
    assertEquals("default", fallback.getCriteriaSource());
  }

  @Test
  void votes_repairDecidesOnlyWhenNeeded_andMajorityNeedsEveryVerdict() {
    assertEquals("B", DpoSteps.vote("j", List.of(ok("j", "hmm"), ok("j", "VERDICT: B"))).getVerdict());
    assertEquals("A", DpoSteps.vote("j", List.of(ok("j", "fine\nVERDICT: A"))).getVerdict());
    JudgeVote none = DpoSteps.vote("j", List.of(failed("j", "timeout")));
    assertNull(none.getVerdict());
    assertNull(none.getRationale());
    JudgeVote a = new JudgeVote("j1", "A", "r", List.of());
    JudgeVote b = new JudgeVote("j2", "B", "r", List.of());
    assertEquals("A", DpoSteps.majority(List.of(a, a, b)));
    assertEquals("TIE", DpoSteps.majority(List.of(a, b)));
    assertNull(DpoSteps.majority(List.of(a, new JudgeVote("j3", null, "r", List.of()))));
  }

  @Test
  void withVotes_ordersVotesAsTheJudgesAreConfigured_andLeadNeedsEveryRationale() {
    DpoTopology jury = DpoTopology.of(POLICY, JudgeMode.MOA, List.of(
        ModelEndpoint.builder("zeta", "http://z/v1", "z").build(), ModelEndpoint.builder("alpha", "http://a/v1", "a").build()), LEAD);
    JudgeTask task = new JudgeTask("p", PROMPT, List.of(), 0, 1, "one", "two", List.of());
    JudgeTask voted = DpoSteps.withVotes(jury, task,
        List.of(new JudgeVote("alpha", "A", "r", List.of()), new JudgeVote("zeta", "B", "r", List.of())));
    assertEquals(List.of("zeta", "alpha"), voted.getVotes().stream().map(JudgeVote::getModel).toList());
    assertNotNull(DpoSteps.leadRequest(voted));
    JudgeTask missing = DpoSteps.withVotes(jury, task,
        List.of(new JudgeVote("alpha", null, null, List.of()), new JudgeVote("zeta", "B", "r", List.of())));
    assertNull(DpoSteps.leadRequest(missing));
    assertNull(DpoSteps.withoutLead(missing).getVerdict());
  }

  private static DpoWork judged(List<String> texts, String verdictOfLowerFirst) {
    List<Call> samples = new ArrayList<>();
    texts.forEach(t -> samples.add(ok("policy", t)));
    DpoSteps.Expansion e = DpoSteps.expand(DpoSteps.sampled(MOA, work(), samples));
    List<Judgment> js = new ArrayList<>();
    for (JudgeTask t : e.tasks()) {
      // the higher index is better, whatever the order
      String v = t.getFirst() > t.getSecond() ? "A" : "B";
      JudgeVote vote = new JudgeVote("j1", v, "r\nVERDICT: " + v, List.of(ok("j1", "j" + t.getFirst() + t.getSecond())));
      JudgeVote lead = new JudgeVote("lead", verdictOfLowerFirst == null ? v : t.getFirst() < t.getSecond() ? verdictOfLowerFirst : v,
          "r", List.of(ok("lead", "l" + t.getFirst() + t.getSecond())));
      js.add(DpoSteps.decided(DpoSteps.withVotes(MOA, t, List.of(vote)), lead));
    }
    return DpoSteps.withJudgments(e.work(), js);
  }

  @Test
  void score_writesTheRowWithScoresAndTokens() {
    DpoSteps.Scored s = DpoSteps.score(MOA, "cfg", judged(List.of("a", "b", "c"), null));
    assertNotNull(s.record());
    assertEquals(2, s.record().getChosenIndex());
    assertEquals(0, s.record().getRejectedIndex());
    assertEquals(3, s.pairs());
    assertEquals(0, s.inconsistentPairs());
    assertEquals((3 + 6 * 2) * 10L, s.record().getPromptTokens());
    assertEquals("cfg", s.record().getConfigHash());
  }

  @Test
  void score_dropsPromptsWithoutAClearWinner_andDeadLettersUnreadableOrFailedJudgments() {
    DpoSteps.Scored inconsistent = DpoSteps.score(MOA, "", judged(List.of("a", "b"), "A"));
    assertEquals(PreferenceScoring.POSITION_INCONSISTENT, inconsistent.dropped().getReason());
    assertEquals(1, inconsistent.inconsistentPairs());

    DpoSteps.Scored margin = DpoSteps.score(MOA.withMinMargin(1.5), "", judged(List.of("a", "b"), null));
    assertEquals(PreferenceScoring.BELOW_MARGIN, margin.dropped().getReason());

    DpoWork w = judged(List.of("a", "b"), null);
    List<Judgment> js = new ArrayList<>(w.getJudgments());
    Judgment j = js.get(0);
    JudgeVote unreadable = new JudgeVote("lead", null, "no line", List.of(ok("lead", "no line"), ok("lead", "still none")));
    js.set(0, new Judgment(j.getPromptId(), j.getFirst(), j.getSecond(), null, j.getVotes(), unreadable));
    DpoSteps.Scored malformed = DpoSteps.score(MOA, "", DpoWork.newBuilder(w).setJudgments(js).build());
    assertEquals("malformed_verdict", malformed.failed().getReason());
    assertEquals("judge", malformed.failed().getStage());
    assertEquals(3, malformed.failed().getCalls().size());

    JudgeVote down = new JudgeVote("j1", null, null, List.of(failed("j1", "timeout")));
    js.set(0, new Judgment(j.getPromptId(), j.getFirst(), j.getSecond(), null, List.of(down), null));
    DpoSteps.Scored failedCall = DpoSteps.score(MOA, "", DpoWork.newBuilder(w).setJudgments(js).build());
    assertEquals("judge_failed", failedCall.failed().getReason());

    JudgeVote refused = new JudgeVote("j1", null, null, List.of(failed("j1", "budget")));
    js.set(0, new Judgment(j.getPromptId(), j.getFirst(), j.getSecond(), null, List.of(refused), null));
    DpoSteps.Scored budget = DpoSteps.score(MOA, "", DpoWork.newBuilder(w).setJudgments(js).build());
    assertEquals("budget", budget.failed().getReason());
  }
}

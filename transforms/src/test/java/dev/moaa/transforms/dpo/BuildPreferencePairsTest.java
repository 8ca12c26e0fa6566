package dev.moaa.transforms.dpo;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import dev.moaa.schemas.Call;
import dev.moaa.schemas.Candidate;
import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.DpoRecord;
import dev.moaa.schemas.Dropped;
import dev.moaa.schemas.JudgeVote;
import dev.moaa.schemas.Message;
import dev.moaa.schemas.PairVerdict;
import dev.moaa.transforms.budget.BudgetSpec;
import dev.moaa.transforms.client.ChatException;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ChatResponse;
import dev.moaa.transforms.client.ErrorKind;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.moa.ClientFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.values.PCollection;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;

/**
 * The DPO chain with scripted models (no HTTP). The policy's candidate {@code i} has quality {@code
 * i} (or what the prompt's markers make of it); every judge and the lead judge name the answer of
 * higher quality. Checks what each call saw and when, and that every prompt ends as exactly one
 * row, drop or dead letter with the staged graph's reasons.
 */
public class BuildPreferencePairsTest {
  @Rule public final transient TestPipeline pipeline = TestPipeline.create();

  /** One event per call start and end, in the order they happened; static because DoFns are serialized. */
  static final List<String> EVENTS = new CopyOnWriteArrayList<>();
  /** Every request's text, per model. */
  static final Map<String, List<String>> SEEN = new java.util.concurrent.ConcurrentHashMap<>();

  private static final Pattern CONVERSATION = Pattern.compile("\\[Conversation]\\nUSER:\\n(.*?)\\n\\[End of conversation]", Pattern.DOTALL);
  private static final Pattern ANSWER_A = Pattern.compile("\\[Answer A]\\n(.*?)\\n\\[End of answer A]", Pattern.DOTALL);
  private static final Pattern ANSWER_B = Pattern.compile("\\[Answer B]\\n(.*?)\\n\\[End of answer B]", Pattern.DOTALL);
  private static final Pattern QUALITY = Pattern.compile("quality (\\d+)");

  private static ModelEndpoint model(String name) {
    return ModelEndpoint.builder(name, "http://unused.invalid/v1", name + "-id").maxConcurrency(4).build();
  }

  private static DpoTopology topology(JudgeMode mode) {
    List<ModelEndpoint> judges = mode == JudgeMode.SINGLE ? List.of(model("j1")) : List.of(model("j1"), model("j2"), model("j3"));
    return DpoTopology.of(model("policy"), mode, judges, mode == JudgeMode.MOA ? model("lead") : null).withK(3);
  }

  private static String find(Pattern p, String text) {
    Matcher m = p.matcher(text);
    return m.find() ? m.group(1) : null;
  }

  private static int quality(String answer) {
    return Integer.parseInt(find(QUALITY, answer));
  }

  /** What the scripted policy answers: "dup" makes candidates 0 and 1 equal, "same" makes all equal. */
  private static String sample(String prompt, long seed) {
    long q = prompt.contains("same") ? 0 : prompt.contains("dup") && seed == 1 ? 0 : seed;
    return "answer to <" + prompt + "> of quality " + q;
  }

  private static ChatResponse answer(String model, ChatRequest request) throws ChatException {
    List<Message> msgs = request.messages();
    String text = msgs.get(0).getContent();
    if (model.equals("policy")) {
      if (request.n() > 1) {
        List<String> choices = new ArrayList<>();
        for (int i = 0; i < request.n(); i++) {
          choices.add(sample(text, i));
        }
        return new ChatResponse(choices.get(0), "stop", 7, 5, 1, 1, 0, choices);
      }
      return new ChatResponse(sample(text, request.seed()), "stop", 7, 5, 1, 1, 0);
    }
    if (text.contains("[Criteria list]")) {
      return new ChatResponse("These matter most.\nCRITERIA: depth, accuracy, clarity", "stop", 3, 2, 1, 1, 0);
    }
    String prompt = find(CONVERSATION, text);
    if (model.equals("j2") && prompt.contains("fail-j2")) {
      throw new ChatException(ErrorKind.SERVER_ERROR, 500, -1, 3, "HTTP 500 from j2");
    }
    if (model.equals("j1")) {
      try {
        Thread.sleep(15); // j1 answers last: its vote must still come first
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    int a = quality(find(ANSWER_A, text));
    int b = quality(find(ANSWER_B, text));
    return new ChatResponse(model + " compares " + a + " with " + b + ".\nVERDICT: " + (a > b ? "A" : "B"),
        "stop", 11, 3, 1, 1, 0);
  }

  /** The key of a call's prompt and, for judges, its pair: "prompt" or "prompt|A|B". */
  private static String key(String model, ChatRequest request) {
    String text = request.messages().get(0).getContent();
    if (model.equals("policy")) {
      return text;
    }
    String prompt = find(CONVERSATION, text);
    String a = find(ANSWER_A, text);
    return a == null ? prompt : prompt + "|" + quality(a) + "|" + quality(find(ANSWER_B, text));
  }

  /** The scripted models; static and capturing nothing, so it serializes with the DoFns. */
  static final ClientFactory SCRIPTED = (endpoint, coordinator) -> request -> {
    String model = endpoint.name();
    String key = key(model, request);
    String role = model.equals("policy") ? "policy" : request.messages().get(0).getContent().contains("[Criteria list]")
        ? "criteria" : model;
    SEEN.computeIfAbsent(model, k -> new CopyOnWriteArrayList<>()).add(request.messages().get(0).getContent());
    EVENTS.add("start " + role + " " + key);
    try {
      return answer(model, request);
    } finally {
      EVENTS.add("end " + role + " " + key);
    }
  };

  @Before
  public void scriptModels() {
    EVENTS.clear();
    SEEN.clear();
  }

  private static Conversation conv(String id, String prompt) {
    return Conversation.newBuilder().setId(id).setSource("mem").setLine(1).setFormat("prompt")
        .setSystem(null).setTurns(List.of(prompt)).build();
  }

  private BuildPreferencePairs.Result run(DpoTopology t, Conversation... cs) {
    PCollection<Conversation> in = pipeline.apply(Create.of(List.of(cs)).withCoder(AvroCoder.of(Conversation.class)));
    return in.apply(BuildPreferencePairs.with(t).withConfigHash("cfg").withClientFactory(SCRIPTED));
  }

  private static <T> List<T> list(Iterable<T> it) {
    return StreamSupport.stream(it.spliterator(), false).toList();
  }

  private static int first(String prefix) {
    for (int i = 0; i < EVENTS.size(); i++) {
      if (EVENTS.get(i).startsWith(prefix)) {
        return i;
      }
    }
    throw new AssertionError("no event " + prefix + " among " + EVENTS.size());
  }

  private static int last(String prefix) {
    for (int i = EVENTS.size() - 1; i >= 0; i--) {
      if (EVENTS.get(i).startsWith(prefix)) {
        return i;
      }
    }
    throw new AssertionError("no event " + prefix);
  }

  @Test
  public void givenMoaJudges_eachPairGoesToTheLeadJudgeOnlyAfterItsVotes_andVotesKeepTheJudgesOrder() {
    BuildPreferencePairs.Result out = run(topology(JudgeMode.MOA), conv("p1", "what is two"), conv("p2", "why is the sky"));

    PAssert.that(out.records()).satisfies(rows -> {
      List<DpoRecord> list = list(rows);
      assertEquals(2, list.size());
      for (DpoRecord r : list) {
        assertEquals(2, (int) r.getChosenIndex());
        assertEquals(0, (int) r.getRejectedIndex());
        assertEquals(1.0, r.getScoreChosen(), 1e-9);
        assertEquals(0.0, r.getScoreRejected(), 1e-9);
        assertEquals(List.of("depth", "accuracy", "clarity"), r.getCriteria());
        assertEquals("judge", r.getCriteriaSource());
        assertEquals("cfg", r.getConfigHash());
        assertEquals("moa", r.getJudgeMode());
        assertEquals("lead", r.getLeadJudgeModel());
        assertEquals(List.of("0-1", "0-2", "1-2"), r.getPairs().stream().map(p -> p.getA() + "-" + p.getB()).toList());
        for (PairVerdict p : r.getPairs()) {
          assertTrue(p.getConsistent());
          assertEquals(List.of("j1", "j2", "j3"), p.getAb().getVotes().stream().map(JudgeVote::getModel).toList());
          assertEquals("lead", p.getBa().getLead().getModel());
          assertEquals("lead_judge", p.getAb().getLead().getCalls().get(0).getRole());
          Call judgeCall = p.getAb().getVotes().get(0).getCalls().get(0);
          assertEquals("judge", judgeCall.getRole());
          assertEquals((int) p.getA(), judgeCall.getTurn());
          assertEquals((int) p.getB(), judgeCall.getLayer());
        }
        // 3 samples (7+5), a criteria call (3+2), 6 ordered pairs x 4 judge calls (11+3)
        assertEquals(3 * 7 + 3 + 6 * 4 * 11, r.getPromptTokens());
        assertEquals(3 * 5 + 2 + 6 * 4 * 3, r.getCompletionTokens());
      }
      return null;
    });
    PAssert.that(out.failures()).empty();
    PAssert.that(out.dropped()).empty();
    pipeline.run().waitUntilFinish();

    for (String prompt : List.of("what is two", "why is the sky")) {
      int lastSample = last("end policy " + prompt);
      int criteria = last("end criteria " + prompt);
      for (String pair : List.of("0|1", "1|0", "0|2", "2|0", "1|2", "2|1")) {
        String k = prompt + "|" + pair;
        int firstJudge = Math.min(first("start j1 " + k), Math.min(first("start j2 " + k), first("start j3 " + k)));
        int lastJudge = Math.max(last("end j1 " + k), Math.max(last("end j2 " + k), last("end j3 " + k)));
        int lead = first("start lead " + k);
        assertTrue("judges start after every sample and the criteria of " + prompt, firstJudge > lastSample && firstJudge > criteria);
        assertTrue("the lead judge of " + k + " starts after its three votes", lead > lastJudge);
      }
    }
    assertTrue("judge requests carry the picked criteria",
        SEEN.get("j3").stream().allMatch(s -> s.contains("depth (") && s.contains("clarity (")));
    assertEquals("a criteria call and 12 lead calls", 2 * (1 + 6), SEEN.get("lead").size());
  }

  @Test
  public void givenAJudgeThatFails_thePromptIsADeadLetterWithTheReason_andNoLeadCallIsMade() {
    BuildPreferencePairs.Result out = run(topology(JudgeMode.MOA), conv("ok", "fine prompt"), conv("bad", "please fail-j2"));
    PAssert.that(out.records()).satisfies(rows -> {
      assertEquals(List.of("ok"), list(rows).stream().map(DpoRecord::getId).toList());
      return null;
    });
    PAssert.that(out.failures()).satisfies(dead -> {
      List<DeadLetter> list = list(dead);
      assertEquals(1, list.size());
      DeadLetter d = list.get(0);
      assertEquals("bad", d.getConversationId());
      assertEquals("judge", d.getStage());
      assertEquals("judge_failed", d.getReason());
      assertTrue(d.getError(), d.getError().startsWith("a judge call failed after retries: ")
          && d.getError().contains("j2: server_error after 3 attempt(s)"));
      assertEquals("every judge call of the 6 unreadable judgments", 6 * 3, d.getCalls().size());
      assertEquals(6, d.getCalls().stream().filter(c -> !c.getOk()).count());
      assertTrue(d.getInput().contains("please fail-j2"));
      return null;
    });
    PAssert.that(out.dropped()).empty();
    pipeline.run().waitUntilFinish();
    assertFalse("nothing for the lead judge to read", SEEN.get("lead").stream()
        .anyMatch(s -> s.contains("fail-j2") && s.contains("[Answer A]")));
  }

  @Test
  public void givenDuplicateCandidates_onlyDistinctOnesArePaired_andIdenticalOnesAreDropped() {
    BuildPreferencePairs.Result out = run(topology(JudgeMode.SINGLE), conv("dup", "dup prompt"), conv("same", "same prompt"));
    PAssert.that(out.records()).satisfies(rows -> {
      List<DpoRecord> list = list(rows);
      assertEquals(1, list.size());
      DpoRecord r = list.get(0);
      assertEquals("dup", r.getId());
      List<Candidate> cs = r.getCandidates();
      assertNull(cs.get(0).getDuplicateOf());
      assertEquals(Integer.valueOf(0), cs.get(1).getDuplicateOf());
      assertEquals("a duplicate carries the score of the candidate it repeats", cs.get(0).getScore(), cs.get(1).getScore());
      assertEquals(List.of("0-2"), r.getPairs().stream().map(p -> p.getA() + "-" + p.getB()).toList());
      assertEquals(2, (int) r.getChosenIndex());
      assertEquals(0, (int) r.getRejectedIndex());
      assertEquals("criteria are off in single mode", "none", r.getCriteriaSource());
      return null;
    });
    PAssert.that(out.dropped()).satisfies(rows -> {
      List<Dropped> list = list(rows);
      assertEquals(1, list.size());
      assertEquals("same", list.get(0).getId());
      assertEquals("identical_candidates", list.get(0).getReason());
      assertTrue(list.get(0).getDetail(), list.get(0).getDetail().startsWith("all 3 candidates have the same text: the policy endpoint did not honour sampling"));
      return null;
    });
    PAssert.that(out.failures()).empty();
    pipeline.run().waitUntilFinish();
    assertEquals("two judge calls for dup's one pair, none for same", 2, SEEN.get("j1").size());
  }

  @Test
  public void givenAJudgeBudgetThatAllowsNothing_everyPromptIsABudgetDeadLetter() {
    DpoTopology t = topology(JudgeMode.MOA);
    BudgetSpec none = BudgetSpec.of(0, 1, 1);
    List<ModelEndpoint> judges = t.judges().stream().map(j -> j.toBuilder().budget(none).build()).toList();
    DpoTopology limited = DpoTopology.of(model("policy"), JudgeMode.MOA, judges, model("lead")).withK(3);
    BuildPreferencePairs.Result out = run(limited, conv("p1", "first"), conv("p2", "second"));
    PAssert.that(out.records()).empty();
    PAssert.that(out.dropped()).empty();
    PAssert.that(out.failures()).satisfies(dead -> {
      List<DeadLetter> list = list(dead);
      assertEquals(2, list.size());
      for (DeadLetter d : list) {
        assertEquals("judge", d.getStage());
        assertEquals("budget", d.getReason());
        assertTrue(d.getError(), d.getError().startsWith("the run's budget stopped judge calls: j1: budget after 0 attempt(s)"));
        assertEquals(6 * 3, d.getCalls().size());
        assertTrue(d.getCalls().stream().allMatch(c -> "budget".equals(c.getErrorKind())));
      }
      return null;
    });
    pipeline.run().waitUntilFinish();
    assertNull("no judge request was sent", SEEN.get("j1"));
  }

  @Test
  public void givenAPolicyBudgetThatAllowsNothing_everyPromptIsABudgetDeadLetterOfSampling() {
    ModelEndpoint policy = model("policy").toBuilder().budget(BudgetSpec.of(0, 1, 1)).build();
    DpoTopology t = DpoTopology.of(policy, JudgeMode.SINGLE, List.of(model("j1")), null).withK(3);
    BuildPreferencePairs.Result out = run(t, conv("p1", "first"));
    PAssert.that(out.records()).empty();
    PAssert.that(out.failures()).satisfies(dead -> {
      DeadLetter d = dead.iterator().next();
      assertEquals("sample", d.getStage());
      assertEquals("budget", d.getReason());
      assertEquals(3, d.getCalls().size());
      return null;
    });
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void givenAMarginThreshold_aPromptBelowItIsDroppedWithTheMargin() {
    DpoTopology t = topology(JudgeMode.MOA).withMinMargin(1.5);
    BuildPreferencePairs.Result out = run(t, conv("p1", "first"));
    PAssert.that(out.records()).empty();
    PAssert.that(out.failures()).empty();
    PAssert.that(out.dropped()).satisfies(rows -> {
      Dropped d = rows.iterator().next();
      assertEquals("p1", d.getId());
      assertEquals("margin_below_threshold", d.getReason());
      assertEquals("margin 1.0000 < 1.5000", d.getDetail());
      return null;
    });
    pipeline.run().waitUntilFinish();
  }

  @Test
  public void givenUseN_oneCallSamplesAllCandidates() {
    DpoTopology t = topology(JudgeMode.SINGLE).withUseN(true);
    BuildPreferencePairs.Result out = run(t, conv("p1", "first"));
    PAssert.that(out.records()).satisfies(rows -> {
      DpoRecord r = rows.iterator().next();
      assertEquals(3, r.getCandidates().size());
      assertEquals("one call behind all three", 1, r.getCandidates().stream()
          .map(c -> c.getCall().getRequestHash()).collect(Collectors.toSet()).size());
      assertEquals(2, (int) r.getChosenIndex());
      assertEquals("tokens of the shared n-call count once", 7 + 6 * 11, r.getPromptTokens());
      return null;
    });
    pipeline.run().waitUntilFinish();
    assertEquals(1, EVENTS.stream().filter(e -> e.startsWith("start policy")).count());
  }
}

package dev.moaa.transforms.moa;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import dev.moaa.schemas.Conversation;
import dev.moaa.schemas.DeadLetter;
import dev.moaa.schemas.Message;
import dev.moaa.schemas.SftRecord;
import dev.moaa.transforms.client.ChatException;
import dev.moaa.transforms.client.ChatResponse;
import dev.moaa.transforms.client.ErrorKind;
import dev.moaa.transforms.client.ModelEndpoint;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import java.util.stream.StreamSupport;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.testing.PAssert;
import org.apache.beam.sdk.testing.TestPipeline;
import org.apache.beam.sdk.transforms.Create;
import org.junit.Before;
import org.junit.Rule;
import org.junit.Test;

/**
 * The MoA chains with scripted models (no HTTP): turn order and history, layers, the
 * minimum-proposals rule, failed and truncated aggregates. Every input ends as a row or a dead letter.
 */
public class SynthesizeConversationsTest {
  @Rule public final transient TestPipeline pipeline = TestPipeline.create();

  /** Requests seen, per model, as "system || last user" strings; static because DoFns are serialized. */
  static final Map<String, List<String>> SEEN = new ConcurrentHashMap<>();

  private static ModelEndpoint model(String name) {
    return ModelEndpoint.builder(name, "http://unused.invalid/v1", name + "-id").maxConcurrency(4).build();
  }

  /** The scripted models; static and capturing nothing, so it serializes with the DoFns. */
  static final ClientFactory SCRIPTED = (endpoint, coordinator) -> request -> {
    List<Message> msgs = request.messages();
    String user = msgs.get(msgs.size() - 1).getContent();
    String system = msgs.get(0).getRole().equals("system") ? msgs.get(0).getContent() : "";
    SEEN.computeIfAbsent(endpoint.name(), k -> new java.util.concurrent.CopyOnWriteArrayList<>())
        .add(system + " || " + msgs.stream().map(Message::getContent).collect(Collectors.joining(" | ")));
    if (user.contains("fail-b") && endpoint.name().equals("b")) {
      throw new ChatException(ErrorKind.SERVER_ERROR, 500, -1, 3, "HTTP 500 from b");
    }
    if (user.contains("cut") && endpoint.name().equals("agg")) {
      return new ChatResponse("cut short", "length", 5, 5, 1, 1, 0);
    }
    return new ChatResponse(endpoint.name() + " on <" + user + ">", "stop", 10, 3, 1, 1, 0);
  };

  @Before
  public void scriptModels() {
    SEEN.clear();
  }

  private static Conversation conv(String id, String... turns) {
    return Conversation.newBuilder().setId(id).setSource("mem").setLine(1).setFormat("prompt")
        .setSystem(null).setTurns(List.of(turns)).build();
  }

  @Test
  public void givenTwoLayersAndTwoTurns_eachStepSeesWhatItShould_andFailuresBecomeDeadLetters() {
    MoaTopology topology = MoaTopology.of(List.of(model("a"), model("b")), model("agg"))
        .withLayers(2).withMinProposals(2);
    SynthesizeConversations.Result out = pipeline
        .apply(Create.of(conv("two", "first q", "second q"), conv("bad", "please fail-b"), conv("trunc", "cut me"))
            .withCoder(AvroCoder.of(Conversation.class)))
        .apply(SynthesizeConversations.of(topology).withConfigHash("cfg").withClientFactory(SCRIPTED));

    PAssert.that(out.records()).satisfies(rows -> {
      List<SftRecord> list = StreamSupport.stream(rows.spliterator(), false).toList();
      assertEquals(1, list.size());
      SftRecord r = list.get(0);
      assertEquals("two", r.getId());
      assertEquals(List.of("user", "assistant", "user", "assistant"),
          r.getMessages().stream().map(Message::getRole).toList());
      assertEquals("agg on <first q>", r.getMessages().get(1).getContent());
      assertEquals("agg on <second q>", r.getMessages().get(3).getContent());
      assertEquals(2, r.getTurns().size());
      assertEquals(4, r.getTurns().get(0).getProposals().size());
      assertEquals("cfg", r.getConfigHash());
      assertEquals(2 * 5 * 10L, r.getPromptTokens());
      return null;
    });
    PAssert.that(out.failures()).satisfies(dead -> {
      Map<String, DeadLetter> byId = StreamSupport.stream(dead.spliterator(), false)
          .collect(Collectors.toMap(DeadLetter::getConversationId, d -> d));
      assertEquals(2, byId.size());
      DeadLetter bad = byId.get("bad");
      assertEquals("not_enough_proposals", bad.getReason());
      assertEquals("propose", bad.getStage());
      assertTrue(bad.getError(), bad.getError().contains("b: server_error after 3 attempt(s)"));
      assertEquals(2, bad.getCalls().size());
      for (dev.moaa.schemas.Call c : bad.getCalls()) {
        assertTrue("every call, failed or not, records when it started and ended: " + c,
            c.getStartedAtMs() != null && c.getEndedAtMs() != null && c.getEndedAtMs() >= c.getStartedAtMs());
      }
      DeadLetter trunc = byId.get("trunc");
      assertEquals("aggregate_truncated", trunc.getReason());
      assertEquals("4 proposals and the aggregate travel with it", 5, trunc.getCalls().size());
      assertTrue(trunc.getInput().contains("cut me"));
      return null;
    });
    pipeline.run().waitUntilFinish();

    // Layer-2 proposers and the aggregator saw both layer-1 / layer-2 drafts; turn 2 carried turn 1's answer.
    List<String> agg = SEEN.get("agg");
    String turn2 = agg.stream().filter(s -> s.endsWith("second q")).findFirst().orElseThrow();
    assertTrue(turn2, turn2.contains("first q | agg on <first q> | second q"));
    assertTrue(turn2, turn2.contains("Draft 1:\na on <second q>") && turn2.contains("Draft 2:\nb on <second q>"));
    long refineRequests = SEEN.get("a").stream().filter(s -> s.contains("Draft 2:")).count();
    assertEquals("layer-2 requests of proposer a: one per turn of 'two' and one for 'trunc'", 3, refineRequests);
  }

  @Test
  public void givenMinProposalsOne_aSingleFailedProposerDoesNotStopTheTurn() {
    MoaTopology topology = MoaTopology.of(List.of(model("a"), model("b")), model("agg")).withMinProposals(1);
    SynthesizeConversations.Result out = pipeline
        .apply(Create.of(conv("bad", "please fail-b")).withCoder(AvroCoder.of(Conversation.class)))
        .apply(SynthesizeConversations.of(topology).withClientFactory(SCRIPTED));
    PAssert.that(out.failures()).empty();
    PAssert.that(out.records()).satisfies(rows -> {
      SftRecord r = rows.iterator().next();
      assertEquals(2, r.getTurns().get(0).getProposals().size());
      assertEquals(1, r.getTurns().get(0).getProposals().stream().filter(c -> !c.getOk()).count());
      return null;
    });
    pipeline.run().waitUntilFinish();
  }

  @Test(expected = IllegalArgumentException.class)
  public void topologyIsValidatedWhenBuilt() {
    MoaTopology.of(List.of(model("a")), model("agg")).withMinProposals(2);
  }
}

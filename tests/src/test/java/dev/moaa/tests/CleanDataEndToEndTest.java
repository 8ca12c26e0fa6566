package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moaa.runners.sim.RecordedRequest;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Decontamination and duplicate removal end to end: {@code moaa sft} on a corpus of ordinary
 * prompts with benchmark prompts planted verbatim and lightly edited, plus exact and near
 * duplicates, against the simulated endpoint with the default {@code clean:} settings.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CleanDataEndToEndTest {
  private static final String PIPELINE_PROMPT = "Our team runs a nightly batch job that reads click events from object "
      + "storage, joins them with the customer table, aggregates revenue per region and writes the result to a "
      + "warehouse. The job has become slow since the data doubled. Suggest concrete steps to find the bottleneck and "
      + "speed it up, in order of expected payoff, and say how to measure each one.";

  /** Ordinary prompts, some on the same topics as benchmark prompts but written differently: all kept. */
  private static final Map<String, String> ORDINARY = new LinkedHashMap<>();
  /** Planted benchmark prompts: id → expected match ({@code BENCHMARK:QUESTION_ID}). */
  private static final Map<String, String> PLANTED = new TreeMap<>();
  private static final Map<String, String> PLANTED_TEXT = new HashMap<>();

  static {
    ORDINARY.put("ord-pipeline", PIPELINE_PROMPT);
    ORDINARY.put("ord-gift", "What is the easiest way to wrap a bicycle as a birthday gift without a huge box?");
    ORDINARY.put("ord-hawaii", "I just came back from Maui. Help me write a short post for friends about the food and "
        + "the beaches, in a casual tone.");
    ORDINARY.put("ord-email", "Write a two-line email asking my manager whether the budget review can move to Friday.");
    ORDINARY.put("ord-pandas", "In Polars, how do I split a comma separated column into rows and count each value "
        + "per user id?");
    ORDINARY.put("ord-prism", "What materials are used for optical prisms in cheap binoculars, and why?");
    ORDINARY.put("ord-watermark", "Explain event-time watermarks in stream processing with a small example.");
    ORDINARY.put("ord-short", "Tell me a joke about databases.");

    plant("bm-verbatim", "mt_bench:82", "Draft a professional email seeking your supervisor's feedback on the 'Quarterly "
        + "Financial Report' you prepared. Ask specifically about the data analysis, presentation style, and the "
        + "clarity of conclusions drawn. Keep the email short and to the point.");
    plant("bm-case-punct", "arena_hard_v0.1:9f25ff7c0d6a4d74846bfe76af8d925c", "DESIGN A SEMIKINEMATIC MOUNTING FOR A "
        + "RIGHT-ANGLE PRISM, WITH PRELOAD PROVIDED BY A COMPRESSED ELASTOMERIC PAD; THE MOUNTING SHOULD BE DESIGNED TO "
        + "ENSURE PROPER ALIGNMENT OF THE PRISM WITH ITS MOUNTING SURFACE AND PROVIDE ADEQUATE TENSION TO MAINTAIN "
        + "PROPER LOAD TRANSFER!!!");
    plant("bm-words-edited", "arena_hard_v2.0:28b81667160545a9", "In Pandas, I want to groupby column a, then transform "
        + "column b from string (; separated values) to a list, explode the list, and count occurrence of values per group.");
    plant("bm-embedded-short", "alpaca_eval:4", "My niece's birthday is on Saturday and I am hopeless at this. How do I "
        + "wrap a present neatly? I only have tape, scissors and some old newspaper, so keep it simple.");
  }

  private static void plant(String id, String match, String text) {
    PLANTED.put(id, match);
    PLANTED_TEXT.put(id, text);
  }

  private SimulatedEndpoint sim;
  private Path work;
  private Fixtures.Run run;
  private Map<String, JsonNode> dropped;

  @BeforeAll
  void runOnce() throws IOException {
    sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(2));
    work = Fixtures.workDir("clean-data");
    Path input = work.resolve("input");
    Files.createDirectories(input);
    StringBuilder rows = new StringBuilder();
    ORDINARY.forEach((id, text) -> rows.append(row(id, text)));
    PLANTED_TEXT.forEach((id, text) -> rows.append(row(id, text)));
    rows.append(row("zz-exact-copy", PIPELINE_PROMPT.toUpperCase().replace(", ", " , ")));
    rows.append(row("zz-near-copy", PIPELINE_PROMPT.replace("nightly", "daily")));
    // a two-turn conversation whose second turn is MT-Bench 81's follow-up: too short to count as contamination
    rows.append("{\"id\":\"ord-two-turn\",\"messages\":[{\"role\":\"user\",\"content\":\"Write a haiku about rain.\"},"
        + "{\"role\":\"assistant\",\"content\":\"...\"},{\"role\":\"user\",\"content\":\"Rewrite it in a happier mood.\"}]}\n");
    Files.writeString(input.resolve("corpus.jsonl"), rows.toString(), StandardCharsets.UTF_8);
    Files.writeString(work.resolve("config.yaml"), Fixtures.config(sim.baseUrl(), 2, 1, 2, ""));
    run = Fixtures.moaa("sft", "--config=" + work.resolve("config.yaml"), "--input=" + input + "/*.jsonl",
        "--output=" + work.resolve("out"));
    dropped = Fixtures.readJsonLines(work.resolve("out/dropped")).stream()
        .collect(Collectors.toMap(n -> n.get("id").asText(), n -> n));
  }

  private static String row(String id, String text) {
    ObjectNode n = Fixtures.JSON.createObjectNode();
    n.put("id", id);
    n.put("prompt", text);
    return n + "\n";
  }

  @AfterAll
  void stop() {
    sim.close();
  }

  @Test
  void plantedBenchmarkPrompts_areDroppedAsContamination_namingTheirQuestion() {
    assertEquals(0, run.code(), run.err());
    for (Map.Entry<String, String> e : PLANTED.entrySet()) {
      JsonNode d = dropped.get(e.getKey());
      assertTrue(d != null, e.getKey() + " was not dropped; dropped: " + dropped.keySet());
      assertEquals("benchmark_contamination", d.get("reason").asText(), e.getKey());
      assertEquals(e.getValue(), d.get("match").asText(), e.getKey());
      String benchmark = e.getValue().substring(0, e.getValue().indexOf(':'));
      String question = e.getValue().substring(e.getValue().indexOf(':') + 1);
      String detail = d.get("detail").asText();
      assertTrue(detail.contains(benchmark + " question " + question), detail);
      double overlap = d.get("overlap").asDouble();
      assertTrue(overlap >= 0.5 && overlap <= 1.0, e.getKey() + " overlap " + overlap);
    }
  }

  @Test
  void duplicates_areDroppedWithTheirReason_namingTheKeptRow() {
    JsonNode exact = dropped.get("zz-exact-copy");
    assertEquals("duplicate_content", exact.get("reason").asText());
    assertEquals("ord-pipeline", exact.get("match").asText());
    JsonNode near = dropped.get("zz-near-copy");
    assertEquals("near_duplicate", near.get("reason").asText());
    assertEquals("ord-pipeline", near.get("match").asText());
  }

  @Test
  void ordinaryPrompts_areKept_andTheRunReconciles() throws IOException {
    Set<String> written = Fixtures.readParquet(work.resolve("out/sft/parquet")).stream()
        .map(r -> String.valueOf(r.get("id"))).collect(Collectors.toSet());
    Set<String> expected = new java.util.TreeSet<>(ORDINARY.keySet());
    expected.add("ord-two-turn");
    assertEquals(expected, new java.util.TreeSet<>(written));
    assertEquals(PLANTED.size() + 2, dropped.size(), dropped.keySet().toString());
    long read = ORDINARY.size() + PLANTED.size() + 3;
    assertTrue(run.out().contains("read " + read + " = written " + expected.size() + " + dead-lettered 0 + dropped "
        + dropped.size()), run.out());
    Fixtures.assertReconciles(Fixtures.manifest(work.resolve("out")), read, expected.size(), 0, dropped.size());
  }

  @Test
  void noModelWasAskedAboutADroppedPrompt() {
    List<RecordedRequest> requests = sim.requests();
    assertFalse(requests.isEmpty());
    List<String> droppedTexts = new java.util.ArrayList<>(PLANTED_TEXT.values());
    droppedTexts.add(PIPELINE_PROMPT.toUpperCase().replace(", ", " , "));
    droppedTexts.add(PIPELINE_PROMPT.replace("nightly", "daily"));
    for (RecordedRequest r : requests) {
      for (RecordedRequest.Message m : r.messages()) {
        for (String text : droppedTexts) {
          assertFalse(m.content().contains(text), "a " + r.model() + " request carried a dropped prompt: " + text);
        }
      }
    }
    for (String kept : ORDINARY.values()) {
      assertTrue(requests.stream().anyMatch(r -> r.messages().stream().anyMatch(m -> m.content().contains(kept))),
          "no request for a kept prompt: " + kept);
    }
  }
}

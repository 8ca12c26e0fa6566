package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.sim.SimulatedEndpoint;
import dev.moaa.runners.sim.SimulatedQuality;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.Test;

/**
 * Verdict parsing in a real run, with an exact judge (no noise, no bias): a reply without a verdict
 * line is repaired once; one that stays unreadable makes the prompt a dead letter with the raw
 * text; candidates that contain verdict lines (quoted back by the judge) change no verdict.
 */
class DpoVerdictParsingTest {

  @Test
  void malformedVerdictsAreRepairedOnceThenDeadLettered_andVerdictTokensInAnswersDecideNothing() throws Exception {
    Path work = Fixtures.workDir("dpo-verdicts");
    Files.createDirectories(work.resolve("in"));
    Map<String, String> kind = new HashMap<>();
    try (BufferedWriter w = Files.newBufferedWriter(work.resolve("in/p.jsonl"), StandardCharsets.UTF_8)) {
      for (int i = 0; i < 12; i++) {
        String marker = i < 4 ? "" : i < 7 ? " SIM_MALFORMED_VERDICT" : i < 9 ? " SIM_MALFORMED_ALWAYS" : " SIM_INJECT_VERDICT";
        String id = "v-" + i;
        kind.put(id, marker.isEmpty() ? "plain" : marker.trim());
        w.write("{\"id\":\"" + id + "\",\"prompt\":\"Explain idempotency, case " + i + "." + marker + "\"}\n");
      }
    }
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults())) {
      Files.writeString(work.resolve("c.yaml"), DpoFixtures.config(sim.baseUrl(), "{mode: single, judges: [j1]}", 3));
      Fixtures.Run run = Fixtures.moaa("dpo", "--config=" + work.resolve("c.yaml"), "--input=" + work.resolve("in/p.jsonl"),
          "--output=" + work.resolve("out"));
      assertEquals(0, run.code(), run.err());
    }
    Path out = work.resolve("out");
    List<GenericRecord> rows = Fixtures.readParquet(out.resolve("dpo/parquet"));
    List<JsonNode> dead = Fixtures.readJsonLines(out.resolve("dead-letters"));
    Fixtures.assertReconciles(Fixtures.manifest(out), 12, 10, 2, 0);

    assertEquals(2, dead.size());
    for (JsonNode d : dead) {
      assertEquals("SIM_MALFORMED_ALWAYS", kind.get(d.get("conversation_id").asText()));
      assertEquals("malformed_verdict", d.get("reason").asText());
      boolean sawRaw = false;
      boolean sawRepair = false;
      for (JsonNode c : d.get("calls")) {
        sawRaw |= c.get("role").asText().equals("judge") && c.get("content").asText().contains("[Answer A]") == false
            && c.get("content").asText().length() > 50;
        sawRepair |= c.get("role").asText().equals("judge_repair") && c.get("content").asText().contains("unable to decide");
      }
      assertTrue(sawRaw && sawRepair, "the raw judge text and the failed repair travel with the dead letter: " + d);
    }
    int repaired = 0;
    for (GenericRecord r : rows) {
      String k = kind.get(r.get("id").toString());
      List<GenericRecord> candidates = SftEndToEndTest.list(r.get("candidates"));
      if (k.equals("SIM_INJECT_VERDICT")) {
        assertTrue(candidates.stream().allMatch(c -> c.get("content").toString().contains("VERDICT: B")),
            "the candidates do carry verdict lines");
      }
      for (GenericRecord p : SftEndToEndTest.list(r.get("pairs"))) {
        int a = (Integer) p.get("a");
        int b = (Integer) p.get("b");
        double qa = SimulatedQuality.qualityOf(candidates.get(a).get("content").toString());
        double qb = SimulatedQuality.qualityOf(candidates.get(b).get("content").toString());
        assertEquals(qa > qb ? a : b, p.get("winner"), "an exact judge names the better answer, row " + r.get("id"));
        for (String order : List.of("ab", "ba")) {
          for (GenericRecord v : SftEndToEndTest.list(((GenericRecord) p.get(order)).get("votes"))) {
            int calls = SftEndToEndTest.list(v.get("calls")).size();
            assertEquals(k.equals("SIM_MALFORMED_VERDICT") ? 2 : 1, calls, "a repair only where the verdict line was missing");
            repaired += calls - 1;
          }
        }
      }
    }
    assertEquals(3 * 6, repaired, "every judgment of the 3 malformed prompts was repaired once");
  }
}

package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.Test;

/** Under injected faults nothing is lost: retried rows succeed, permanent failures are dead letters. */
class SftFaultsTest {

  @Test
  void givenFivePercentTimeoutsTenPercent5xxTwoPercentMalformed_everyRowIsWrittenOrDeadLettered() throws Exception {
    Path work = Fixtures.workDir("sft-faults");
    Set<String> poisoned = new HashSet<>();
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults()
        .withLatencyMs(5).withRate5xx(0.10).withRateTimeout(0.05).withRateMalformed(0.02)
        .withTimeoutDelayMs(1500).withSeed(42))) {
      Files.createDirectories(work.resolve("in"));
      try (BufferedWriter w = Files.newBufferedWriter(work.resolve("in/faults.jsonl"), StandardCharsets.UTF_8)) {
        for (int i = 0; i < 120; i++) {
          // every 20th prompt makes every model fail on every attempt: it must end as a dead letter
          boolean poison = i % 20 == 7;
          String prompt = "Fault test " + i + (poison ? " SIM_ALWAYS_FAIL" : "") + ": describe a retry policy.";
          w.write("{\"id\":\"f-" + i + "\",\"prompt\":\"" + prompt + "\"}\n");
          if (poison) {
            poisoned.add("f-" + i);
          }
        }
      }
      Files.writeString(work.resolve("config.yaml"),
          Fixtures.config(sim.baseUrl(), 3, 1, 2, "  read_timeout_ms: 400\n").replace("  read_timeout_ms: 5000\n", ""));
      Fixtures.Run run = Fixtures.moaa("sft", "--config=" + work.resolve("config.yaml"),
          "--input=" + work.resolve("in/faults.jsonl"), "--output=" + work.resolve("out"));
      assertEquals(0, run.code(), run.err());

      JsonNode manifest = Fixtures.manifest(work.resolve("out"));
      List<GenericRecord> rows = Fixtures.readParquet(work.resolve("out/sft/parquet"));
      List<JsonNode> dead = Fixtures.readJsonLines(work.resolve("out/dead-letters"));
      Fixtures.assertReconciles(manifest, 120, rows.size(), dead.size(), 0);
      assertEquals(120, rows.size() + dead.size());

      Set<String> deadIds = new HashSet<>();
      for (JsonNode d : dead) {
        deadIds.add(d.get("conversation_id").asText());
        assertTrue(d.get("reason").asText().matches("not_enough_proposals|aggregator_failed"), d.toString());
        assertTrue(d.get("error").asText().length() > 10, "a dead letter says why");
        assertTrue(d.get("input").asText().contains(d.get("conversation_id").asText()), "original input kept");
        assertTrue(d.get("calls").size() > 0, "the failed calls travel with it");
      }
      assertTrue(deadIds.containsAll(poisoned), "every always-failing prompt is a dead letter: " + deadIds);
      for (JsonNode d : dead) {
        if (poisoned.contains(d.get("conversation_id").asText())) {
          assertEquals("not_enough_proposals", d.get("reason").asText());
          d.get("calls").forEach(c -> assertEquals("server_error", c.get("error_kind").asText()));
        }
      }
      int retriedAndWritten = 0;
      for (GenericRecord r : rows) {
        boolean retried = false;
        for (GenericRecord t : SftEndToEndTest.list(r.get("turns"))) {
          for (GenericRecord p : SftEndToEndTest.list(t.get("proposals"))) {
            retried |= (Integer) p.get("attempts") > 1;
          }
          retried |= (Integer) ((GenericRecord) t.get("aggregator")).get("attempts") > 1;
        }
        retriedAndWritten += retried ? 1 : 0;
      }
      System.out.println("rows written after at least one retry: " + retriedAndWritten + " of " + rows.size()
          + "; dead letters " + dead.size() + "; simulator 5xx/timeouts/malformed over " + sim.requestCount() + " requests");
      assertTrue(retriedAndWritten >= 30, "many rows needed a retry and still succeeded: " + retriedAndWritten);
      assertTrue(rows.size() >= 120 - poisoned.size() - 3, "only rare unlucky rows fail besides the poisoned ones");
      long retries = 0;
      for (JsonNode m : manifest.get("models")) {
        retries += m.get("retries").asLong();
      }
      assertTrue(retries > 50, "the manifest counts retries: " + retries);
    }
  }
}

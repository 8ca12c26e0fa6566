package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.Test;

/**
 * What real servers do that the happy path does not: ignore {@code n}, answer 429 storms mixed with
 * 5xx and stalls, think before answering, leave out {@code usage}. Checked against what the
 * simulated endpoint received and billed.
 */
class ServerQuirksTest {

  @Test
  void givenAServerThatIgnoresN_theKCandidatesComeFromSeededRequests() throws Exception {
    Path work = Fixtures.workDir("quirk-ignore-n");
    int rows = 8;
    int k = 4;
    Path input = CacheRuns.prompts(work.resolve("in"), "n", rows);
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(5)
        .withIgnoreN(true))) {
      String yaml = DpoFixtures.config(sim.baseUrl(), "{mode: single, judges: [j1]}", k)
          .replace("  seed: 100\n", "  seed: 100\n  use_n: true\n");
      Files.writeString(work.resolve("c.yaml"), yaml);
      Path out = work.resolve("out");
      Fixtures.Run run = Fixtures.moaa("dpo", "--config=" + work.resolve("c.yaml"), "--input=" + input, "--output=" + out);
      assertEquals(0, run.code(), run.err());
      JsonNode m = Fixtures.manifest(out);
      Fixtures.assertReconciles(m, rows, rows, 0, 0);
      assertEquals((long) rows * k, sim.receivedCount("sim-policy"), "one request for n=K, then K-1 seeded ones");
      for (GenericRecord r : Fixtures.readParquet(out.resolve("dpo/parquet"))) {
        JsonNode row = Fixtures.JSON.readTree(r.toString());
        assertEquals(k, row.path("candidates").size());
        row.path("candidates").forEach(c -> assertTrue(c.path("content").isTextual(), c.toString()));
      }
      assertEquals(sim.billedPromptTokens(), m.path("totals").path("prompt_tokens").asLong());
      assertEquals(sim.billedCompletionTokens(), m.path("totals").path("completion_tokens").asLong());
      assertEquals(sim.receivedCount(), m.path("totals").path("paid_calls").asLong());
    }
  }

  @Test
  void givenA429StormMixedWith5xxAndStalls_noRowIsLostToRateLimits_andEveryBilledTokenIsCounted() throws Exception {
    Path work = Fixtures.workDir("quirk-429-storm");
    int rows = 40;
    Path input = CacheRuns.prompts(work.resolve("in"), "storm", rows);
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(5)
        .withRetryAfterMs(20).withRate429(0.45).withRate5xx(0.08).withRateTimeout(0.04).withTimeoutDelayMs(120_000)
        .withRateEmpty(0.04))) {
      String yaml = Fixtures.config(sim.baseUrl(), 2, 1, 2, "").replace("read_timeout_ms: 5000", "read_timeout_ms: 400")
          .replace("retry: {max_attempts: 4, initial_backoff_ms: 10, max_backoff_ms: 100}",
              "retry: {max_attempts: 6, initial_backoff_ms: 10, max_backoff_ms: 100, max_rate_limit_wait_ms: 120000}")
          + "cache: {backend: none}\n";
      Files.writeString(work.resolve("c.yaml"), yaml);
      Path out = work.resolve("out");
      Fixtures.Run run = Fixtures.moaa("sft", "--config=" + work.resolve("c.yaml"), "--input=" + input, "--output=" + out);
      JsonNode m = Fixtures.manifest(out);
      JsonNode counts = m.path("counts");
      Fixtures.assertReconciles(m, rows, counts.path("written").asLong(), counts.path("dead_lettered").asLong(), 0);
      assertTrue(sim.count429() > rows, "it was a storm: " + sim.count429() + " 429s");
      for (JsonNode d : Fixtures.readJsonLines(out.resolve("dead-letters"))) {
        for (JsonNode c : d.path("calls")) {
          assertFalse("rate_limited".equals(c.path("error_kind").asText()), "a row lost to 429s: " + d);
        }
      }
      assertEquals(0, run.code(), run.err());
      assertEquals(sim.receivedCount(), m.path("totals").path("paid_calls").asLong(), "every request sent");
      // a stalled request's answer would come after 120 s, long after the client gave up: neither side bills it
      assertEquals(sim.billedPromptTokens(), m.path("totals").path("prompt_tokens").asLong(),
          "the empty answers' tokens are counted too");
      assertEquals(sim.billedCompletionTokens(), m.path("totals").path("completion_tokens").asLong());
    }
  }

  @Test
  void givenAReasoningModelAndAnswersWithoutUsage_reasoningStaysInLineage_andEstimatesAreFlagged() throws Exception {
    Path work = Fixtures.workDir("quirk-reasoning");
    int rows = 12;
    Path input = CacheRuns.prompts(work.resolve("in"), "think", rows);
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(5)
        .withThinkInlineModels(List.of("sim-proposer-2")).withRateNoUsage(0.2))) {
      String yaml = Fixtures.config(sim.baseUrl(), 3, 1, 2, "")
          .replace("  p1: {model: sim-proposer-1}", "  p1: {model: sim-reasoner, max_completion_tokens: 400}")
          .replace("  p3: {model: sim-proposer-3}", "  p3: {model: sim-reasoner-small, max_completion_tokens: 12}")
          + "cache: {backend: none}\n";
      Files.writeString(work.resolve("c.yaml"), yaml);
      Path out = work.resolve("out");
      Fixtures.Run run = Fixtures.moaa("sft", "--config=" + work.resolve("c.yaml"), "--input=" + input, "--output=" + out);
      // p3 spends its whole budget thinking on every call: beyond its failure share, the run says so
      assertEquals(4, run.code(), run.err());
      assertTrue(run.err().contains("model p3 failed " + rows + " of its " + rows + " calls"), run.err());
      JsonNode m = Fixtures.manifest(out);
      Fixtures.assertReconciles(m, rows, rows, 0, 0);
      int reasoning = 0;
      int exhausted = 0;
      for (GenericRecord r : Fixtures.readParquet(out.resolve("sft/parquet"))) {
        String messages = String.valueOf(r.get("messages"));
        assertFalse(messages.contains("<think>") || messages.contains("</think>"), messages);
        JsonNode row = Fixtures.JSON.readTree(r.toString());
        for (JsonNode c : row.path("turns").path(0).path("proposals")) {
          String model = c.path("model").asText();
          if (model.equals("p1")) {
            assertTrue(c.path("reasoning").asText().startsWith("Let me think"), c.toString());
            assertFalse(c.path("content").asText().contains("Let me think"), c.toString());
            assertTrue(c.path("reasoning_tokens").asLong() > 0 || c.path("usage_estimated").asBoolean(), c.toString());
            reasoning++;
          } else if (model.equals("p2")) {
            assertFalse(c.path("content").asText().contains("think>"), c.toString());
            assertTrue(c.path("reasoning").isTextual(), "the inline thinking is kept in lineage: " + c);
          } else if (model.equals("p3")) {
            assertEquals("reasoning_exhausted", c.path("error_kind").asText(), c.toString());
            assertEquals(1, c.path("attempts").asInt());
            exhausted++;
          }
        }
      }
      assertEquals(rows, reasoning);
      assertEquals(rows, exhausted);
      assertEquals(sim.receivedCount(), m.path("totals").path("paid_calls").asLong());
      long withoutUsage = sim.answersWithoutUsage();
      assertTrue(withoutUsage > 0, "some answers came without usage");
      assertEquals(withoutUsage, m.path("totals").path("calls_with_estimated_usage").asLong(),
          "each answer without usage is one call flagged as estimated (no retries here)");
      assertEquals(sim.billedReasoningTokens(), m.path("totals").path("reasoning_tokens").asLong(),
          "reasoning tokens as billed (an answer without usage adds none on either side)");
    }
  }
}

package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.sim.RecordedRequest;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The head-to-head measure ({@code moaa compare}) on the simulator, whose answers carry a hidden
 * quality: a model whose answers are better (hidden skill 0.75, so its answer beats a skill-0.5
 * answer three times in four) gets a win rate above 0.5 with an interval that excludes 0.5; two
 * models of the same skill get an interval that includes 0.5. The judges err one call in ten.
 */
class CompareTest {
  private static final int QUESTIONS = 150;

  @Test
  void aBetterModel_winsBeyondChance_andTwoEqualModels_doNot() throws Exception {
    Path work = Fixtures.workDir("compare");
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().toBuilder()
        .latencyMs(0).requestLogLimit(10_000).judgeNoise(0.1).modelSkill("sim-strong", 0.75).build())) {
      Path cfg = work.resolve("c.yaml");
      Files.writeString(cfg, "defaults: {base_url: " + sim.baseUrl() + ", max_concurrency: 16, max_tokens: 300}\n"
          + "models:\n  strong: {model: sim-strong}\n  weak: {model: sim-weak}\n  twin: {model: sim-twin}\n"
          + "  j1: {model: sim-judge-1}\n  j2: {model: sim-judge-2}\n  lead: {model: sim-judge-lead}\n"
          + "dpo:\n  policy: strong\n"
          + "  judge: {mode: moa, judges: [j1, j2], aggregator: lead, criteria: {enabled: false}}\n"
          + "cache: {backend: none}\n");

      Fixtures.Run better = Fixtures.moaa("compare", "--config=" + cfg, "--a=strong", "--b=weak",
          "--bench=arena_hard_v0.1", "--limit=" + QUESTIONS, "--output=" + work.resolve("strong-weak"));
      assertEquals(0, better.code(), better.err());
      JsonNode h = Fixtures.JSON.readTree(work.resolve("strong-weak/compare.json").toFile()).path("head_to_head");
      assertEquals(QUESTIONS, h.path("pairs").asInt());
      assertEquals(QUESTIONS, h.path("wins").asInt() + h.path("losses").asInt() + h.path("ties").asInt()
          + h.path("inconsistent").asInt());
      assertTrue(h.path("win_rate").asDouble() > 0.5, h.toString());
      assertTrue(h.path("ci95_low").asDouble() > 0.5, "the interval excludes 0.5: " + h);
      assertTrue(h.path("ci95_low").asDouble() <= h.path("win_rate").asDouble()
          && h.path("win_rate").asDouble() <= h.path("ci95_high").asDouble(), h.toString());
      assertTrue(better.out().contains("strong is preferred"), better.out());

      // each model answered every first turn once; the judges saw every pair in both orders
      long strongCalls = sim.requests().stream().map(RecordedRequest::model).filter("sim-strong"::equals).count();
      assertEquals(QUESTIONS, strongCalls);
      long leadCalls = sim.requests().stream().map(RecordedRequest::model).filter("sim-judge-lead"::equals).count();
      assertEquals(2 * QUESTIONS, leadCalls, "one lead verdict per pair and order");

      Fixtures.Run equal = Fixtures.moaa("compare", "--config=" + cfg, "--a=weak", "--b=twin",
          "--bench=arena_hard_v0.1", "--limit=" + QUESTIONS, "--output=" + work.resolve("weak-twin"));
      assertEquals(0, equal.code(), equal.err());
      JsonNode e = Fixtures.JSON.readTree(work.resolve("weak-twin/compare.json").toFile()).path("head_to_head");
      assertTrue(e.path("ci95_low").asDouble() < 0.5 && 0.5 < e.path("ci95_high").asDouble(),
          "the interval of two equal models includes 0.5: " + e);
      assertTrue(equal.out().contains("no preference beyond chance"), equal.out());
    }
  }
}

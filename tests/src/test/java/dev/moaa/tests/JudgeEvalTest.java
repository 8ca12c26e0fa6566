package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * judge-eval on 200 simulated labelled pairs, with judges whose behaviour is known exactly, so
 * every figure of the report can be worked out by hand:
 *
 * <ul>
 *   <li>subset "chat" (100 pairs): chosen has quality 0.9, rejected 0.1;
 *   <li>subset "tied" (100 pairs): both answers have quality 0.5;
 *   <li>judges: good1 and good2 (no noise, no bias) and first (always answer A); jury mode.
 * </ul>
 *
 * chat: good judges name chosen in both orders, "first" names chosen in order AB and rejected in
 * BA; the jury's majority names chosen in both orders: correct and consistent. tied: the good
 * judges say TIE, "first" says A, so the jury (TIE votes count for neither side) follows "first":
 * chosen in AB, rejected in BA: inconsistent. Hence accuracy 0.5, consistency 0.5; chat 1.0/1.0,
 * tied 0/0; good judges 0.5 accuracy (consistent ties are not correct) and 1.0 consistency; first
 * 0/0. Fleiss' kappa over the 400 judgments: item types (c,c,c) (c,c,r) (t,t,c) (t,t,r), 100 each:
 * P̄ = (1 + 1/3 + 1/3 + 1/3)/4 = 1/2; category shares c 6/12, r 2/12, t 4/12 give Pe = 14/36;
 * kappa = (1/2 - 7/18)/(1 - 7/18) = 2/11.
 */
class JudgeEvalTest {

  @Test
  void reportMatchesTheHandComputedFigures() throws Exception {
    Path work = Fixtures.workDir("judge-eval");
    Path pairs = work.resolve("pairs.jsonl");
    try (BufferedWriter w = Files.newBufferedWriter(pairs, StandardCharsets.UTF_8)) {
      for (int i = 0; i < 200; i++) {
        boolean chat = i < 100;
        String good = "Answer " + i + " in full. " + marker(chat ? 0.9 : 0.5);
        String bad = "Answer " + i + " sloppy. " + marker(chat ? 0.1 : 0.5);
        w.write(Fixtures.JSON.writeValueAsString(java.util.Map.of("id", i, "subset", chat ? "chat" : "tied",
            "prompt", "Question " + i + "?", "chosen", good, "rejected", bad)) + "\n");
      }
      w.write("{\"prompt\": \"no answers here\"}\n");
    }
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults()
        .withJudge("sim-judge-first", 0.0, 1.0))) {
      String config = "defaults: {base_url: " + sim.baseUrl() + ", max_concurrency: 16, price: {input_per_million: 1, output_per_million: 1}}\n"
          + "models:\n  good1: {model: sim-judge-good-1}\n  good2: {model: sim-judge-good-2}\n  first: {model: sim-judge-first}\n"
          + "dpo:\n  judge: {mode: jury, judges: [good1, good2, first]}\n";
      Files.writeString(work.resolve("c.yaml"), config);
      Fixtures.Run run = Fixtures.moaa("judge-eval", "--config=" + work.resolve("c.yaml"), "--input=" + pairs,
          "--output=" + work.resolve("out"));
      assertEquals(0, run.code(), run.err());
      assertTrue(run.out().contains("Fleiss' kappa among judges: 0.182"), run.out());
      assertEquals(1200, sim.requestCount(), "200 pairs x 2 orders x 3 judges");
    }
    JsonNode r = Fixtures.JSON.readTree(work.resolve("out/report.json").toFile());
    assertEquals(200, r.get("pairs").asInt());
    assertEquals(1, r.get("invalid_rows").asInt());
    assertEquals(0.5, r.get("accuracy").asDouble(), 1e-12);
    assertEquals(0.5, r.get("position_consistency").asDouble(), 1e-12);
    assertEquals(1.0, r.at("/accuracy_by_subset/chat/accuracy").asDouble(), 1e-12);
    assertEquals(1.0, r.at("/accuracy_by_subset/chat/position_consistency").asDouble(), 1e-12);
    assertEquals(0.0, r.at("/accuracy_by_subset/tied/accuracy").asDouble(), 1e-12);
    assertEquals(0.0, r.at("/accuracy_by_subset/tied/position_consistency").asDouble(), 1e-12);
    for (String good : new String[] {"good1", "good2"}) {
      assertEquals(0.5, r.at("/per_judge/" + good + "/accuracy").asDouble(), 1e-12);
      assertEquals(1.0, r.at("/per_judge/" + good + "/position_consistency").asDouble(), 1e-12);
    }
    assertEquals(0.0, r.at("/per_judge/first/accuracy").asDouble(), 1e-12);
    assertEquals(0.0, r.at("/per_judge/first/position_consistency").asDouble(), 1e-12);
    assertEquals(2.0 / 11.0, r.get("fleiss_kappa").asDouble(), 1e-12);
    for (String m : new String[] {"good1", "good2", "first"}) {
      assertEquals(400, r.at("/calls/" + m + "/calls").asLong(), m);
    }
    assertTrue(r.get("estimated_cost_usd").asDouble() > 0);
  }

  private static String marker(double q) {
    return dev.moaa.runners.sim.SimulatedQuality.marker(q);
  }
}

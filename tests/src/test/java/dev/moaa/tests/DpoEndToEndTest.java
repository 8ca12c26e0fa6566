package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.sim.SimulatedEndpoint;
import dev.moaa.runners.sim.SimulatedQuality;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * MoAA-DPO end to end on the DirectRunner against simulated judges with a known truth: every
 * simulated answer carries a hidden quality; each judge prefers the better answer but with 20%
 * noise and a 20% bias towards position A. The same 100 prompts are labelled twice, by the MoA
 * judge (3 judges + a lead judge) and by one judge, and both are compared with the truth.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DpoEndToEndTest {
  private SimulatedEndpoint sim;
  private Path work;
  private Path input;

  /** Runner flags; subclasses run the same checks on other runners. */
  protected List<String> runnerArgs() {
    return List.of();
  }

  protected String workName() {
    return "dpo";
  }

  private Fixtures.Run dpo(String... args) {
    List<String> all = new java.util.ArrayList<>(List.of("dpo"));
    all.addAll(List.of(args));
    all.addAll(runnerArgs());
    return Fixtures.moaa(all.toArray(String[]::new));
  }

  @BeforeAll
  void start() throws Exception {
    sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults()
        .withLatencyMs(0).withJudgeNoise(0.2).withJudgePositionBias(0.2).withRequestLogLimit(20_000));
    work = Fixtures.workDir(workName());
    input = DpoFixtures.hundredPrompts(work);
  }

  @AfterAll
  void stop() {
    sim.close();
  }

  /** Share of rows whose chosen answer truly beats the rejected one, and of decided pairs judged right. */
  record Figures(int rows, double chosenBeatsRejected, double pairAccuracy, int decidedPairs, int inconsistentPairs) {}

  private Figures run(String name, String judge) throws Exception {
    Path cfg = work.resolve(name + ".yaml");
    Files.writeString(cfg, DpoFixtures.config(sim.baseUrl(), judge, 5));
    Path out = work.resolve(name);
    Fixtures.Run run = dpo("--config=" + cfg, "--input=" + input + "/*.jsonl", "--output=" + out);
    assertEquals(0, run.code(), run.err());
    assertTrue(run.out().contains("plan (estimate, before any call): 100 input rows -> 500 policy calls"), run.out());
    JsonNode manifest = Fixtures.manifest(out);
    List<GenericRecord> rows = Fixtures.readParquet(out.resolve("dpo/parquet"));
    List<JsonNode> dead = Fixtures.readJsonLines(out.resolve("dead-letters"));
    List<JsonNode> dropped = Fixtures.readJsonLines(out.resolve("dropped"));
    Fixtures.assertReconciles(manifest, 100, rows.size(), dead.size(), dropped.size());
    assertEquals(List.of(), dead.stream().map(d -> d.get("reason").asText()).toList(), "no dead letters expected");
    int better = 0;
    int decided = 0;
    int right = 0;
    int inconsistent = 0;
    for (GenericRecord r : rows) {
      double qc = SimulatedQuality.qualityOf(content(r.get("chosen")));
      double qr = SimulatedQuality.qualityOf(content(r.get("rejected")));
      better += qc > qr ? 1 : 0;
      List<GenericRecord> candidates = SftEndToEndTest.list(r.get("candidates"));
      assertEquals(5, candidates.size());
      for (GenericRecord p : SftEndToEndTest.list(r.get("pairs"))) {
        inconsistent += (Boolean) p.get("consistent") ? 0 : 1;
        if (p.get("winner") != null) {
          decided++;
          int w = (Integer) p.get("winner");
          int l = w == (Integer) p.get("a") ? (Integer) p.get("b") : (Integer) p.get("a");
          right += quality(candidates, w) > quality(candidates, l) ? 1 : 0;
        }
      }
      assertEquals(r.get("prompt_tokens") instanceof Long, true);
    }
    return new Figures(rows.size(), (double) better / rows.size(), (double) right / decided, decided, inconsistent);
  }

  private static String content(Object messages) {
    return ((GenericRecord) SftEndToEndTest.list(messages).get(0)).get("content").toString();
  }

  private static double quality(List<GenericRecord> candidates, int index) {
    return SimulatedQuality.qualityOf(candidates.get(index).get("content").toString());
  }

  @Test
  void moaJudge_picksTheTrulyBetterAnswerInAtLeast90Percent_andOneJudgeIsMeasurablyWorse() throws Exception {
    Figures moa = run("moa", "{mode: moa, judges: [j1, j2, j3], aggregator: lead}");
    Figures single = run("single", "{mode: single, judges: [j1]}");
    System.out.printf(Locale.ROOT, "DPO vs hidden quality (noise 20%%, position bias 20%%):%n"
            + "  moa (3 judges + lead): rows %d, chosen beats rejected %.1f%%, decided pair verdicts right %.1f%% of %d, inconsistent pairs %d%n"
            + "  single judge:          rows %d, chosen beats rejected %.1f%%, decided pair verdicts right %.1f%% of %d, inconsistent pairs %d%n",
        moa.rows(), 100 * moa.chosenBeatsRejected(), 100 * moa.pairAccuracy(), moa.decidedPairs(), moa.inconsistentPairs(),
        single.rows(), 100 * single.chosenBeatsRejected(), 100 * single.pairAccuracy(), single.decidedPairs(), single.inconsistentPairs());
    assertTrue(moa.rows() >= 95, "almost every prompt yields a pair: " + moa.rows());
    assertTrue(moa.chosenBeatsRejected() >= 0.90, "moa: " + moa);
    assertTrue(moa.inconsistentPairs() < single.inconsistentPairs(), "the mixture is more position-consistent");
    assertTrue(moa.decidedPairs() > single.decidedPairs(), "the mixture decides more pairs");
    assertTrue(moa.pairAccuracy() > single.pairAccuracy() + 0.03, "the mixture's verdicts are more often right");
    assertTrue(moa.chosenBeatsRejected() >= single.chosenBeatsRejected(), moa + " vs " + single);
  }

  @Test
  void aJudgeThatAlwaysPrefersPositionA_dropsEveryPromptAsPositionInconsistent() throws Exception {
    SimulatedEndpoint biasedSim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults()
        .withJudge("sim-judge-biased", 0.0, 1.0));
    try {
      Path cfg = work.resolve("biased.yaml");
      Files.writeString(cfg, DpoFixtures.config(biasedSim.baseUrl(), "{mode: single, judges: [biased]}", 3));
      Path out = work.resolve("biased");
      Fixtures.Run run = dpo("--config=" + cfg, "--input=" + input + "/generated.jsonl", "--output=" + out);
      assertEquals(4, run.code(), "exit 4: it reconciled, but wrote no row. " + run.err());
      assertTrue(run.err().contains("the run wrote no row from 50 read"), run.err());
      Fixtures.assertReconciles(Fixtures.manifest(out), 50, 0, 0, 50);
      List<JsonNode> dropped = Fixtures.readJsonLines(out.resolve("dropped"));
      assertEquals(50, dropped.size());
      dropped.forEach(d -> assertEquals("position_inconsistent", d.get("reason").asText(), d.toString()));
      dropped.forEach(d -> assertTrue(d.get("detail").asText().startsWith("3 of 3 pairs were position-inconsistent")));
      assertTrue(Fixtures.readParquet(out.resolve("dpo/parquet")).isEmpty(), "nothing is written as a preference");
    } finally {
      biasedSim.close();
    }
  }
}

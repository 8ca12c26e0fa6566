package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moaa.runners.sim.RecordedRequest;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.Test;

/**
 * judge-eval judges with the DPO chain's own judging code: one prompt goes through {@code moaa
 * dpo} (two policy samples, each ordered pair to two judges, then the lead judge); the row's chosen
 * and rejected answers then go through {@code moaa judge-eval} as a labelled pair, with the same
 * judge section. Every judge and lead-judge request the simulator received in the two runs must be
 * the same, byte for byte (model, messages and every other field of the body), in both orders.
 */
class JudgeEvalJudgesLikeDpoTest {

  @Test
  void givenTheSamePair_judgeEvalSendsExactlyTheRequestsDpoSends() throws Exception {
    Path work = Fixtures.workDir("judge-eval-like-dpo");
    Path input = work.resolve("input");
    Files.createDirectories(input);
    Files.writeString(input.resolve("prompts.jsonl"),
        "{\"id\":\"p-1\",\"prompt\":\"How should a team version its datasets?\"}\n");
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults()
        .withLatencyMs(0).withRequestLogLimit(1_000))) {
      String config = "defaults: {base_url: " + sim.baseUrl() + ", max_concurrency: 8,"
          + " price: {input_per_million: 1, output_per_million: 1}}\n"
          + "models:\n  policy: {model: sim-policy, max_tokens: 300}\n"
          + "  j1: {model: sim-judge-good-1}\n  j2: {model: sim-judge-good-2}\n  lead: {model: sim-judge-lead}\n"
          + "dpo:\n  policy: policy\n  k: 2\n  seed: 100\n"
          + "  judge: {mode: moa, judges: [j1, j2], aggregator: lead, criteria: {enabled: false}}\n"
          + Fixtures.BENCHMARK_INPUT;
      Path cfg = work.resolve("c.yaml");
      Files.writeString(cfg, config);

      Fixtures.Run dpo = Fixtures.moaa("dpo", "--config=" + cfg, "--input=" + input + "/*.jsonl",
          "--output=" + work.resolve("dpo"));
      assertEquals(0, dpo.code(), dpo.err());
      List<GenericRecord> rows = Fixtures.readParquet(work.resolve("dpo/dpo/parquet"));
      assertEquals(1, rows.size(), "the prompt is labelled");
      List<String> dpoJudging = judging(sim.requests());
      assertEquals(2 * 3, dpoJudging.size(), "2 orders x (2 judges + lead)");

      Path pairs = work.resolve("pairs.jsonl");
      Files.writeString(pairs, labelledPair(rows.get(0)) + "\n");
      int before = sim.requests().size();
      Fixtures.Run eval = Fixtures.moaa("judge-eval", "--config=" + cfg, "--input=" + pairs,
          "--output=" + work.resolve("eval"));
      assertEquals(0, eval.code(), eval.err());
      List<RecordedRequest> all = sim.requests();
      List<String> evalJudging = judging(all.subList(before, all.size()));

      assertFalse(evalJudging.isEmpty());
      assertEquals(dpoJudging, evalJudging);
    }
  }

  /** The judge and lead-judge requests as received, each as one canonical JSON text, sorted. */
  private static List<String> judging(List<RecordedRequest> requests) throws Exception {
    List<String> out = new ArrayList<>();
    for (RecordedRequest r : requests) {
      if (!"sim-policy".equals(r.model())) {
        out.add(Fixtures.JSON.writeValueAsString(Map.of("model", r.model(), "messages", r.messages(),
            "params", new java.util.TreeMap<>(r.params()))));
      }
    }
    out.sort(null);
    return out;
  }

  /** The DPO row's prompt, chosen and rejected as a judge-eval labelled pair. */
  private static String labelledPair(GenericRecord row) throws Exception {
    ObjectNode pair = Fixtures.JSON.createObjectNode();
    pair.put("id", row.get("id").toString());
    ArrayNode prompt = pair.putArray("prompt");
    for (Object m : (List<?>) row.get("prompt")) {
      GenericRecord g = (GenericRecord) m;
      prompt.addObject().put("role", g.get("role").toString()).put("content", g.get("content").toString());
    }
    pair.put("chosen", firstContent(row.get("chosen")));
    pair.put("rejected", firstContent(row.get("rejected")));
    return Fixtures.JSON.writeValueAsString(pair);
  }

  private static String firstContent(Object messages) {
    return ((GenericRecord) ((List<?>) messages).get(0)).get("content").toString();
  }
}

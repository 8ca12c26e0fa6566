package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.sim.SimulatedBatches;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.Test;

/**
 * {@code execution: batch}: one model's calls go through the simulator's Batch API while the others
 * stay online, in the same run. The rows are those of the online run (the same requests, so the same
 * answers), the manifest bills the batch model at the batch price, batches that expire or fail in
 * part are completed by sending the rest again, and a run killed while its batch is under way finds
 * the batch when it runs again and waits for it: no request is ever in two batches.
 */
class BatchExecutionTest {
  private static final String BATCH = "execution: batch, batch: {flush_ms: 200, poll_ms: 50}";

  private static String sftConfig(SimulatedEndpoint sim, String p1, String cache) {
    return "defaults: {base_url: " + sim.baseUrl() + ", max_tokens: 300, max_concurrency: 8,"
        + " retry: {max_attempts: 3, initial_backoff_ms: 10, max_backoff_ms: 50},"
        + " price: {input_per_million: 1.0, output_per_million: 2.0}}\n"
        + "models:\n  p1: {model: sim-proposer-1" + (p1.isEmpty() ? "" : ", " + p1) + "}\n"
        + "  p2: {model: sim-proposer-2}\n  agg: {model: sim-aggregator}\n"
        + "sft: {proposers: [p1, p2], aggregator: agg, min_proposals: 2}\n" + cache + Fixtures.BENCHMARK_INPUT;
  }

  private static Map<String, String> sftRows(Path output) throws Exception {
    Map<String, String> rows = new TreeMap<>();
    for (GenericRecord r : Fixtures.readParquet(output.resolve("sft/parquet"))) {
      rows.put(r.get("id").toString(), String.valueOf(r.get("messages")));
    }
    return rows;
  }

  @Test
  void sftAndDpo_withOneModelInBatchMode_writeTheOnlineRunsRows_billedAtTheBatchPrice() throws Exception {
    Path work = Fixtures.workDir("batch-same-rows");
    Path input = CacheRuns.prompts(work.resolve("in"), "b", 30);
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().toBuilder()
        .latencyMs(0).batchDelayMs(100).requestLogLimit(10_000).build())) {
      Path online = work.resolve("online.yaml");
      Files.writeString(online, sftConfig(sim, "", "cache: {backend: none}\n"));
      Path batch = work.resolve("batch.yaml");
      Files.writeString(batch, sftConfig(sim, BATCH, "cache: {backend: none}\n"));

      Fixtures.Run a = Fixtures.moaa("sft", "--config=" + online, "--input=" + input, "--output=" + work.resolve("sft-online"));
      assertEquals(0, a.code(), a.err());
      Fixtures.Run b = Fixtures.moaa("sft", "--config=" + batch, "--input=" + input, "--output=" + work.resolve("sft-batch"));
      assertEquals(0, b.code(), b.err());
      assertEquals(sftRows(work.resolve("sft-online")), sftRows(work.resolve("sft-batch")));
      assertEquals(30, sftRows(work.resolve("sft-batch")).size());

      JsonNode manifest = Fixtures.manifest(work.resolve("sft-batch"));
      Fixtures.assertReconciles(manifest, 30, 30, 0, 0);
      JsonNode p1 = manifest.at("/models/p1");
      assertEquals("batch", p1.path("execution").asText());
      assertEquals(0.5, p1.path("price_factor").asDouble());
      double online1 = (p1.path("prompt_tokens").asLong() * 1.0 + p1.path("completion_tokens").asLong() * 2.0) / 1e6;
      assertEquals(online1 * 0.5, p1.path("estimated_cost_usd").asDouble(), 1e-9, "p1 is billed at half price");
      assertEquals("online", manifest.at("/models/p2/execution").asText());
      assertTrue(manifest.at("/batches/submitted").asLong() >= 1, manifest.path("batches").toString());
      List<SimulatedBatches.Submitted> batches = sim.batchesSubmitted();
      assertEquals(30, batches.stream().mapToInt(x -> x.customIds().size()).sum(), "every p1 call went in a batch");

      // DPO with one judge in batch mode
      String dpo = "defaults: {base_url: " + sim.baseUrl() + ", max_concurrency: 8, max_tokens: 300}\n"
          + "models:\n  policy: {model: sim-policy}\n  j1: {model: sim-judge-1, " + BATCH + "}\n"
          + "  j2: {model: sim-judge-2}\n  lead: {model: sim-judge-lead}\n"
          + "dpo:\n  policy: policy\n  k: 2\n  seed: 7\n"
          + "  judge: {mode: moa, judges: [j1, j2], aggregator: lead, criteria: {enabled: false}}\n"
          + "cache: {backend: none}\n" + Fixtures.BENCHMARK_INPUT;
      Path dpoBatch = work.resolve("dpo-batch.yaml");
      Files.writeString(dpoBatch, dpo);
      Path dpoOnline = work.resolve("dpo-online.yaml");
      Files.writeString(dpoOnline, dpo.replace(", " + BATCH, ""));
      Path prompts = CacheRuns.prompts(work.resolve("dpo-in"), "d", 8);
      Fixtures.Run c = Fixtures.moaa("dpo", "--config=" + dpoOnline, "--input=" + prompts, "--output=" + work.resolve("dpo-online"));
      assertEquals(0, c.code(), c.err());
      Fixtures.Run d = Fixtures.moaa("dpo", "--config=" + dpoBatch, "--input=" + prompts, "--output=" + work.resolve("dpo-batch"));
      assertEquals(0, d.code(), d.err());
      assertEquals(dpoRows(work.resolve("dpo-online")), dpoRows(work.resolve("dpo-batch")));
      Fixtures.assertReconciles(Fixtures.manifest(work.resolve("dpo-batch")), 8, dpoRows(work.resolve("dpo-batch")).size(),
          0, 8 - dpoRows(work.resolve("dpo-batch")).size());
    }
  }

  private static Map<String, String> dpoRows(Path output) throws Exception {
    Map<String, String> rows = new TreeMap<>();
    for (GenericRecord r : Fixtures.readParquet(output.resolve("dpo/parquet"))) {
      rows.put(r.get("id").toString(), r.get("chosen") + " | " + r.get("rejected") + " | " + r.get("score_chosen"));
    }
    return rows;
  }

  @Test
  void expiredAndPartlyFailedBatches_areCompletedBySendingTheRestAgain() throws Exception {
    Path work = Fixtures.workDir("batch-faults");
    Path input = CacheRuns.prompts(work.resolve("in"), "f", 40);
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().toBuilder()
        .latencyMs(0).batchDelayMs(100).batchFailureRate(0.3).batchExpireShare(0.5).requestLogLimit(10_000).build())) {
      Path cfg = work.resolve("c.yaml");
      Files.writeString(cfg, sftConfig(sim, BATCH, "cache: {backend: none}\n"));
      Fixtures.Run r = Fixtures.moaa("sft", "--config=" + cfg, "--input=" + input, "--output=" + work.resolve("out"));
      assertEquals(0, r.code(), r.err());
      Fixtures.assertReconciles(Fixtures.manifest(work.resolve("out")), 40, 40, 0, 0);
      List<SimulatedBatches.Submitted> batches = sim.batchesSubmitted();
      assertTrue(batches.size() >= 2, "the failed and unanswered requests went into later batches: " + batches.size());
      Set<String> distinct = new HashSet<>();
      batches.forEach(x -> distinct.addAll(x.customIds()));
      assertEquals(40, distinct.size(), "40 distinct requests");
      assertTrue(batches.stream().mapToInt(x -> x.customIds().size()).sum() > 40, "some were sent again");
    }
  }

  @Test
  void aKilledRun_findsItsBatchAgain_andNoRequestIsInTwoBatches() throws Exception {
    Path work = Fixtures.workDir("batch-resume");
    Path input = CacheRuns.prompts(work.resolve("in"), "k", 30);
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().toBuilder()
        .latencyMs(0).batchDelayMs(6000).requestLogLimit(10_000).build())) {
      Path cfg = work.resolve("c.yaml");
      Files.writeString(cfg, sftConfig(sim, BATCH, CacheRuns.sqlite(work.resolve("cache.sqlite"))));
      Path out = work.resolve("out");
      Path log = work.resolve("first.log");
      Process first = CacheRuns.start(cfg, input, out, log);
      long deadline = System.currentTimeMillis() + 120_000;
      while (sim.batchesSubmitted().isEmpty() && System.currentTimeMillis() < deadline && first.isAlive()) {
        Thread.sleep(50);
      }
      assertFalse(sim.batchesSubmitted().isEmpty(), "the first run submitted a batch: " + Files.readString(log));
      Thread.sleep(300); // its ids are in the cache well before the batch ends
      first.destroyForcibly().waitFor();
      List<String> before = new ArrayList<>();
      sim.batchesSubmitted().forEach(x -> before.addAll(x.customIds()));

      Fixtures.Run again = Fixtures.moaa("sft", "--config=" + cfg, "--input=" + input, "--output=" + out,
          "--progressSeconds=1");
      assertEquals(0, again.code(), again.err());
      assertTrue(again.out().lines().anyMatch(l -> l.startsWith("progress ") && l.contains("| batches: 1 submitted, 1 in progress")),
          "the progress line shows the batch under way: " + again.out());
      Fixtures.assertReconciles(Fixtures.manifest(out), 30, 30, 0, 0);
      assertTrue(Fixtures.manifest(out).at("/batches/found_from_an_earlier_run").asLong() >= 1,
          Fixtures.manifest(out).path("batches").toString());
      List<String> all = new ArrayList<>();
      sim.batchesSubmitted().forEach(x -> all.addAll(x.customIds()));
      assertEquals(new HashSet<>(all).size(), all.size(), "no request in two batches: " + sim.batchesSubmitted());
      assertTrue(all.containsAll(before));
    }
  }
}

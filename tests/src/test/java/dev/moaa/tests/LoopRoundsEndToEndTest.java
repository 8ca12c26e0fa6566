package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.sim.RecordedRequest;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * {@code moaa run} with two self-improvement rounds on CPU: tiny random-init models trained by the
 * real trainer (TRL), every trained checkpoint served by a real {@code transformers serve} started by
 * the loop's serve command, the other models (proposers, aggregator, judge) played by the simulator.
 * Round 2's SFT data is made with round 1's model among the proposers; after each round its model
 * meets round 1's (round 2) and the base model in a head-to-head judged in both orders. The loop is
 * killed in round 2 (with every process it started) and run again: it resumes in round 2, and the
 * loop summary and report hold both rounds.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LoopRoundsEndToEndTest {
  private final Path repo = Paths.get("").toAbsolutePath().getParent();
  private SimulatedEndpoint sim;
  private Path work;
  private Path cfg;

  @BeforeAll
  void prepare() throws Exception {
    Path python = repo.resolve(".venv/bin/python");
    assertTrue(Files.isExecutable(python), "the loop trains and serves with the project's .venv (./run-tests makes it)");
    sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().toBuilder().latencyMs(0)
        .requestLogLimit(20_000).build());
    work = Fixtures.workDir("loop-rounds");
    Files.writeString(work.resolve("prompts.jsonl"), "{\"id\":\"q1\",\"prompt\":\"Name a prime number.\"}\n"
        + "{\"id\":\"q2\",\"prompt\":\"Why is the sky blue?\"}\n{\"id\":\"q3\",\"prompt\":\"Say hello in French.\"}\n"
        + "{\"id\":\"q4\",\"prompt\":\"What is a stable sort?\"}\n");
    Process tiny = new ProcessBuilder(python.toString(), "-m", "moaa_training.tiny", "--output", work.resolve("tiny").toString())
        .redirectErrorStream(true).redirectOutput(work.resolve("tiny.log").toFile())
        .directory(repo.resolve("runners/training").toFile()).start();
    assertTrue(tiny.waitFor(3, TimeUnit.MINUTES), "the tiny model is built");
    assertEquals(0, tiny.exitValue(), Files.readString(work.resolve("tiny.log")));
    String recipe = "base_model: tiny\nmax_steps: 2\nbatch_size: 2\nper_device_batch_size: 2\nmax_length: 256\n"
        + "bf16: false\ngradient_checkpointing: false\nlogging_steps: 1\nlearning_rate: 1.0e-3\n";
    Files.writeString(work.resolve("sft.yaml"), "stage: sft\n" + recipe);
    Files.writeString(work.resolve("dpo.yaml"), "stage: dpo\n" + recipe);
    int port = freePair();
    Path hfHome = repo.resolve("tests/target/hf-home");
    Files.createDirectories(hfHome.resolve("hub")); // GET /v1/models lists the cache, and fails without it
    cfg = work.resolve("rounds.yaml");
    Files.writeString(cfg, "defaults:\n"
        + "  base_url: " + sim.baseUrl() + "\n"
        + "  max_concurrency: 4\n"
        + "  max_tokens: 24\n"
        + "  read_timeout_ms: 120000\n"
        + "  retry: {max_attempts: 3, initial_backoff_ms: 10, max_backoff_ms: 100}\n"
        + "models:\n"
        + "  p1: {model: sim-proposer-1}\n"
        + "  p2: {model: sim-proposer-2}\n"
        + "  agg: {model: sim-aggregator, max_tokens: 400}\n"
        + "  policy: {model: unused-policy}\n"
        + "  judge: {model: sim-judge, max_tokens: 400}\n"
        + "sft: {proposers: [p1, p2], aggregator: agg}\n"
        + "dpo: {policy: policy, k: 2, seed: 5, judge: {mode: single, judges: [judge]}}\n"
        + "train:\n"
        + "  sft: {recipe: sft.yaml}\n"
        + "  dpo: {recipe: dpo.yaml}\n"
        + "  python: " + python + "\n"
        + "serve:\n"
        + "  command: >-\n"
        + "    env HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_UPDATE_CHECK=1 HF_HUB_DISABLE_TELEMETRY=1\n"
        + "    HF_HOME=" + hfHome + " CUDA_VISIBLE_DEVICES= OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false\n"
        + "    " + python + " -m transformers.cli.transformers serve --host 127.0.0.1 --port {port} --device cpu\n"
        + "  port: " + port + "\n"
        + "  ready_timeout_s: 180\n"
        + "  stop_timeout_s: 10\n"
        + "loop: {output: rounds, sft_input: prompts.jsonl, rounds: 2, compare: {bench: arena_hard_v0.1, limit: 4}}\n"
        + "cache: {backend: sqlite, path: " + work.resolve("cache.sqlite") + "}\n"
        + "output: {shards: 1}\n" + Fixtures.BENCHMARK_INPUT);
  }

  @AfterAll
  void stop() {
    if (sim != null) {
      sim.close();
    }
  }

  /** A port whose next one is free too: the head-to-head serves two checkpoints at once. */
  private static int freePair() throws IOException {
    for (int i = 0; i < 50; i++) {
      try (ServerSocket a = new ServerSocket(0)) {
        try (ServerSocket b = new ServerSocket(a.getLocalPort() + 1)) {
          return a.getLocalPort();
        } catch (IOException taken) {
          // try another
        }
      }
    }
    throw new IOException("no two free ports in a row");
  }

  @Test
  void twoRounds_round2CallsRound1sModel_resumesAfterAKill_andReportsBothRounds() throws Exception {
    Path out = work.resolve("rounds");
    // the first run, killed (with the trainer or server it started) once round 2's SFT data is written
    Path log = work.resolve("first-run.log");
    Process first = new ProcessBuilder(Paths.get(System.getProperty("java.home"), "bin", "java").toString(), "-jar",
        repo.resolve("runners/target/moaa.jar").toString(), "run", "--config=" + cfg)
        .redirectErrorStream(true).redirectOutput(log.toFile()).start();
    Path round2 = out.resolve("round-2").resolve("loop.json");
    long deadline = System.currentTimeMillis() + TimeUnit.MINUTES.toMillis(8);
    while (System.currentTimeMillis() < deadline && first.isAlive() && !sftDataDone(round2)) {
      Thread.sleep(200);
    }
    assertTrue(sftDataDone(round2), "round 2's SFT data was written before the kill: " + Files.readString(log));
    first.descendants().forEach(ProcessHandle::destroyForcibly);
    first.destroyForcibly().waitFor();
    assertTrue(Files.readString(log).contains("round 1 head-to-head against base: start"), Files.readString(log));

    Fixtures.Run again = Fixtures.moaa("run", "--config=" + cfg);
    assertEquals(0, again.code(), again.out() + again.err());
    String text = again.out();
    assertTrue(text.contains("moaa run: round 1 [1/5] sft-data: skipped"), text);
    assertTrue(text.contains("moaa run: round 1 [5/5] dpo-train: skipped"), text);
    assertTrue(text.contains("round 1 head-to-head against base: skipped"), text);
    assertTrue(text.contains("moaa run: round 2 [1/5] sft-data: skipped"), "round 2 resumes after its SFT data: " + text);
    assertTrue(text.contains("moaa run: round 2 [2/5] sft-train: start"), text);

    // round 2's mixture called round 1's model as a proposer, on the real server
    Path r2 = out.resolve("round-2");
    JsonNode sft2 = Fixtures.manifest(r2.resolve("sft-data"));
    assertEquals(4, sft2.at("/models/round-1/calls").asLong(), sft2.path("models").toString());
    String round1Model = out.resolve("round-1").resolve("dpo-model").toString();
    assertTrue(sft2.at("/models/round-1/model_id").asText().startsWith(round1Model), sft2.path("models").toString());
    for (GenericRecord row : Fixtures.readParquet(r2.resolve("sft-data/sft/parquet"))) {
      assertTrue(row.get("proposer_models").toString().contains("round-1"), row.get("proposer_models").toString());
    }
    long served = Files.readAllLines(r2.resolve("logs/serve-previous.log")).stream()
        .filter(l -> l.contains("POST /v1/chat/completions")).count();
    assertTrue(served >= 4, "the server's log holds round 2's proposer requests: " + served);
    assertTrue(sim.requests().stream().map(RecordedRequest::model).noneMatch(m -> m != null && m.contains("round-1")
        || m != null && m.contains("dpo-model")), "no request for a trained model reached the simulator");

    // every stage of both rounds reconciles
    for (String round : List.of("round-1", "round-2")) {
      for (String stage : List.of("sft-data", "dpo-data")) {
        assertTrue(Fixtures.manifest(out.resolve(round).resolve(stage)).at("/counts/reconciled").asBoolean(),
            round + " " + stage);
      }
    }

    JsonNode summary = Fixtures.JSON.readTree(out.resolve("loop-summary.json").toFile());
    assertEquals(2, summary.path("rounds").size());
    JsonNode one = summary.path("rounds").get(0);
    JsonNode two = summary.path("rounds").get(1);
    assertEquals(4, one.at("/sft/written").asLong());
    assertTrue(one.at("/sft/final_loss").isNumber() && two.at("/dpo/final_loss").isNumber(), summary.toString());
    assertTrue(one.at("/head_to_head/base/pairs").asInt() > 0, one.toString());
    assertTrue(two.at("/head_to_head/round-1/pairs").asInt() > 0 && two.at("/head_to_head/base/pairs").asInt() > 0,
        two.toString());
    assertTrue(two.at("/calls/round-1").asLong() >= 4, two.toString());
    String html = Files.readString(out.resolve("loop-report.html"));
    assertTrue(html.contains("round 1 vs base") && html.contains("round 2 vs round-1"), html);
    assertFalse(html.contains("NaN"), html);
  }

  private static boolean sftDataDone(Path loopJson) {
    try {
      return Files.isRegularFile(loopJson)
          && "done".equals(Fixtures.JSON.readTree(loopJson.toFile()).at("/steps/sft-data/status").asText());
    } catch (IOException e) {
      return false;
    }
  }
}

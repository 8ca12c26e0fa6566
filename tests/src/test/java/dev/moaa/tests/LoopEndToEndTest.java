package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * {@code moaa run}: the whole MoAA loop on CPU. Proposers, aggregator and judge are an in-process
 * simulated endpoint; the "served SFT model" is the simulator started as a child process by the
 * serve command (a shell wrapper counts its starts); training is the real trainer ({@code
 * python -m moaa_training} from the project's .venv) on a tiny random-init Llama built offline.
 *
 * <p>The three tests are one story, in order: a loop whose DPO training fails (a bad recipe
 * override) after every earlier step ran; the fixed loop resuming at DPO training; the same loop
 * again, skipping everything.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LoopEndToEndTest {
  private static final String SERVED_MODEL = "moaa-sft-policy";
  private static final List<String> STEPS = List.of("sft-data", "sft-train", "serve-policy", "dpo-data", "dpo-train");

  private final Path repo = Paths.get("").toAbsolutePath().getParent();
  private SimulatedEndpoint sim;
  private Path work;
  private Path out;
  private Path starts;
  private int port;

  @BeforeAll
  void prepare() throws Exception {
    Path python = repo.resolve(".venv/bin/python");
    assertTrue(Files.isExecutable(python), "moaa run trains with the project's Python environment, and "
        + python + " is missing. ./run-tests creates it; by hand: python3 -m venv .venv && .venv/bin/pip install"
        + " -r tests/python/requirements.txt -r runners/training/requirements.txt");
    Path jar = repo.resolve("runners/target/moaa.jar");
    assertTrue(Files.exists(jar), "the bundled jar is built before the tests module: " + jar);
    sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(0));
    work = Fixtures.workDir("loop");
    out = work.resolve("loop");
    starts = work.resolve("serve-starts.txt");
    Files.writeString(work.resolve("prompts.jsonl"), "{\"id\":\"q1\",\"prompt\":\"Name a prime number.\"}\n"
        + "{\"id\":\"q2\",\"prompt\":\"Why is the sky blue?\"}\n{\"id\":\"q3\",\"prompt\":\"Say hello in French.\"}\n"
        + "{\"id\":\"q4\",\"prompt\":\"What is a stable sort?\"}\n");
    // the tiny model: random weights, a byte-level tokenizer, nothing downloaded
    Process tiny = new ProcessBuilder(python.toString(), "-m", "moaa_training.tiny", "--output", work.resolve("tiny").toString())
        .redirectErrorStream(true).redirectOutput(work.resolve("tiny.log").toFile()).directory(repo.resolve("runners/training").toFile())
        .start();
    assertTrue(tiny.waitFor(3, TimeUnit.MINUTES), "the tiny model is built");
    assertEquals(0, tiny.exitValue(), Files.readString(work.resolve("tiny.log")));
    String recipe = "base_model: tiny\nmax_steps: 3\nbatch_size: 2\nper_device_batch_size: 2\nmax_length: 256\n"
        + "bf16: false\ngradient_checkpointing: false\nlogging_steps: 1\nlearning_rate: 1.0e-3\n";
    Files.writeString(work.resolve("sft.yaml"), "stage: sft\n" + recipe);
    Files.writeString(work.resolve("dpo.yaml"), "stage: dpo\n" + recipe);
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
  }

  @AfterAll
  void stop() {
    if (sim != null) {
      sim.close();
    }
  }

  private Path config(String dpoSet) throws IOException {
    String java = Paths.get(System.getProperty("java.home"), "bin", "java").toString();
    Path cfg = work.resolve("loop.yaml");
    Files.writeString(cfg, "defaults:\n"
        + "  base_url: " + sim.baseUrl() + "\n"
        + "  max_concurrency: 8\n"
        + "  read_timeout_ms: 10000\n"
        + "  retry: {max_attempts: 3, initial_backoff_ms: 10, max_backoff_ms: 100}\n"
        + "models:\n"
        + "  p1: {model: sim-proposer-1}\n"
        + "  p2: {model: sim-proposer-2}\n"
        + "  agg: {model: sim-aggregator, max_tokens: 200}\n"
        + "  policy: {model: sim-remote-policy, max_tokens: 200}\n"
        + "  judge: {model: sim-judge}\n"
        + "sft: {proposers: [p1, p2], aggregator: agg}\n"
        + "dpo: {policy: policy, k: 2, seed: 5, judge: {mode: single, judges: [judge]}}\n"
        + "train:\n"
        + "  sft: {recipe: sft.yaml}\n"
        + "  dpo: {recipe: dpo.yaml" + dpoSet + "}\n"
        + "  python: " + repo.resolve(".venv/bin/python") + "\n"
        + "serve:\n"
        + "  command: >-\n"
        + "    sh -c 'echo started >> \"$0\"; exec \"$@\"' " + starts + " " + java + " -cp " + repo.resolve("runners/target/moaa.jar")
        + " dev.moaa.runners.sim.SimulatedEndpointMain --port={port} --latency-ms=0\n"
        + "  port: " + port + "\n"
        + "  model: " + SERVED_MODEL + "\n"
        + "  ready_timeout_s: 120\n"
        + "  stop_timeout_s: 10\n"
        + "loop: {output: loop, sft_input: prompts.jsonl}\n"
        + "output: {shards: 2}\n");
    return cfg;
  }

  private static void assertStep(Fixtures.Run run, int n, String step, String what) {
    String line = "moaa run: [" + n + "/5] " + step + ": " + what;
    assertTrue(run.out().contains(line), "expected '" + line + "' in:\n" + run.out());
  }

  private JsonNode state() throws IOException {
    return Fixtures.JSON.readTree(out.resolve("loop.json").toFile());
  }

  private boolean portClosed() {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", port), 500);
      return false;
    } catch (IOException e) {
      return true;
    }
  }

  private long serverStarts() throws IOException {
    return Files.exists(starts) ? Files.readAllLines(starts).size() : 0;
  }

  @Test
  @Order(1)
  void aFailingDpoTraining_failsTheLoopAfterEveryEarlierStepRan_andTheServerIsStopped() throws Exception {
    Fixtures.Run run = Fixtures.moaa("run", "--config=" + config(", set: {beta: strong}"));

    assertEquals(1, run.code(), run.err());
    assertStep(run, 1, "sft-data", "start (no completed run recorded)");
    assertStep(run, 1, "sft-data", "done in");
    assertStep(run, 2, "sft-train", "done in");
    assertStep(run, 3, "serve-policy", "done in");
    assertStep(run, 4, "dpo-data", "done in");
    assertStep(run, 5, "dpo-train", "FAILED after");
    assertTrue(run.err().contains("moaa-training: error: beta: expected a number, got 'strong'"), run.err());
    assertTrue(run.err().contains("moaa run: step dpo-train failed: the trainer exited with code 2"), run.err());
    JsonNode state = state();
    assertEquals("failed", state.path("status").asText());
    assertEquals("dpo-train", state.path("failed_step").asText());
    for (String s : List.of("sft-data", "sft-train", "serve-policy", "dpo-data")) {
      assertEquals("done", state.path("steps").path(s).path("status").asText(), s);
    }
    assertEquals(1, serverStarts());
    assertTrue(portClosed(), "the served policy was stopped");
    assertTrue(run.out().contains("moaa run: serve: stopped in"), run.out());

    Fixtures.assertReconciles(Fixtures.manifest(out.resolve("sft-data")), 4, 4, 0, 0);
    assertFalse(Fixtures.readParquet(out.resolve("sft-data/sft/parquet")).isEmpty());
    JsonNode dpoManifest = Fixtures.manifest(out.resolve("dpo-data"));
    JsonNode served = dpoManifest.path("models").path("served-policy");
    assertEquals(SERVED_MODEL, served.path("model_id").asText(), dpoManifest.toString());
    assertEquals(8, served.path("calls").asLong(), "4 prompts x K=2 candidates from the served policy");
    assertEquals(0, sim.requestCount("sim-remote-policy"), "the configured remote policy was never called");
    assertEquals(0, sim.requestCount(SERVED_MODEL), "policy calls went to the served model, not the in-process endpoint");
    assertFalse(Fixtures.readParquet(out.resolve("dpo-data/dpo/parquet")).isEmpty());
    assertTrue(Files.exists(out.resolve("sft-model/training_complete.json")));
    assertFalse(Files.exists(out.resolve("dpo-model/training_complete.json")));
  }

  @Test
  @Order(2)
  void theFixedLoop_resumesAtDpoTraining_whichStartsFromTheSftCheckpoint() throws Exception {
    long callsBefore = sim.requestCount();
    Fixtures.Run run = Fixtures.moaa("run", "--config=" + config(""));

    assertEquals(0, run.code(), run.err());
    assertStep(run, 1, "sft-data", "skipped");
    assertStep(run, 2, "sft-train", "skipped");
    assertStep(run, 3, "serve-policy", "skipped (the DPO data is complete)");
    assertStep(run, 4, "dpo-data", "skipped");
    assertStep(run, 5, "dpo-train", "start (it did not complete in the last run)");
    assertStep(run, 5, "dpo-train", "done in");
    assertEquals(callsBefore, sim.requestCount(), "no model was called again");
    assertEquals(1, serverStarts(), "the policy was not served again");

    JsonNode sft = Fixtures.JSON.readTree(out.resolve("sft-model/training_complete.json").toFile());
    JsonNode dpo = Fixtures.JSON.readTree(out.resolve("dpo-model/training_complete.json").toFile());
    String sftCheckpoint = out.resolve("sft-model/final").toString();
    assertEquals("sft", sft.path("stage").asText());
    assertEquals(sftCheckpoint, sft.path("checkpoint").asText());
    assertEquals(work.resolve("tiny").toString(), sft.path("base_model").asText());
    assertEquals("dpo", dpo.path("stage").asText());
    assertEquals(sftCheckpoint, dpo.path("base_model").asText(), "DPO starts from the SFT checkpoint");
    assertEquals(3, dpo.path("steps").asInt());
    assertTrue(Files.isRegularFile(out.resolve("dpo-model/final/config.json")));
    assertTrue(dpo.path("data").get(0).asText().startsWith(out.resolve("dpo-data/dpo/parquet").toString()), dpo.toString());
    JsonNode state = state();
    assertEquals("done", state.path("status").asText());
    assertEquals(sftCheckpoint, state.path("sft_checkpoint").asText());
    assertEquals(out.resolve("dpo-model/final").toString(), state.path("dpo_checkpoint").asText());
    assertTrue(run.out().contains("  DPO checkpoint: " + out.resolve("dpo-model/final")), run.out());
    assertTrue(portClosed());
  }

  @Test
  @Order(3)
  void theSameLoopAgain_skipsEveryStep_andCallsNothing() throws Exception {
    long callsBefore = sim.requestCount();
    FileTime sftDone = Files.getLastModifiedTime(out.resolve("sft-model/training_complete.json"));
    FileTime dpoDone = Files.getLastModifiedTime(out.resolve("dpo-model/training_complete.json"));
    Fixtures.Run run = Fixtures.moaa("run", "--config=" + config(""));

    assertEquals(0, run.code(), run.err());
    for (int i = 0; i < STEPS.size(); i++) {
      assertStep(run, i + 1, STEPS.get(i), "skipped");
      assertEquals("skipped", state().path("steps").path(STEPS.get(i)).path("status").asText());
    }
    assertEquals(callsBefore, sim.requestCount());
    assertEquals(1, serverStarts());
    assertEquals(sftDone, Files.getLastModifiedTime(out.resolve("sft-model/training_complete.json")));
    assertEquals(dpoDone, Files.getLastModifiedTime(out.resolve("dpo-model/training_complete.json")));
    assertFalse(run.out().contains("[train"), "no trainer ran: " + run.out());
    String printed = new String(Files.readAllBytes(out.resolve("dpo-model/train.log")), StandardCharsets.UTF_8);
    assertTrue(printed.contains("moaa-training: error: beta"), "the failed attempt is logged too: " + printed);
    assertTrue(printed.contains("moaa-training: checkpoint " + out.resolve("dpo-model/final")), printed);
  }
}

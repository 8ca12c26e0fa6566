package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.flink.LocalFlinkCluster;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * MoAA-SFT on a real local Flink 1.19 session cluster (1 JobManager, 2 TaskManagers x 2 slots,
 * each its own JVM), submitted as a user submits it: {@code java -jar runners/target/moaa.jar sft
 * … --runner=FlinkRunner --flinkMaster=127.0.0.1:PORT}. The cluster holds a copy of that jar on
 * its class path, as {@code moaa flink-cluster start} sets it up: the recovery run relies on it and
 * ships no jar, while the first run ships the whole jar anyway ({@code --filesToStage}), as a
 * client of another build would, and its own classes win. Checks that the cluster writes what the
 * DirectRunner writes, and that a TaskManager killed with SIGKILL in the middle of a run costs
 * repeated calls but no missing and no duplicate row.
 *
 * <p>Measured here: a run this short has usually completed no checkpoint when the TaskManager dies
 * (a checkpoint completes only once the calls queued before its barrier are answered), so the job
 * restarts from the start and repeats every call made so far; the test prints which it was.
 * Tagged {@code cluster}: the profile {@code cluster} of this module runs them, on by default,
 * off with {@code -Dmoaa.skipClusterTests}.
 */
@Tag("cluster")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LocalFlinkClusterTest {
  private static final Path JAR = Paths.get("..", "runners", "target", "moaa.jar").toAbsolutePath().normalize();
  private static final Duration RUN_TIMEOUT = Duration.ofMinutes(4);
  private static final int RECOVERY_PROMPTS = 300;
  private static final int RECOVERY_CALLS = RECOVERY_PROMPTS * 3; // 2 proposers + the aggregator, one turn

  private Path work;
  private LocalFlinkCluster cluster;
  private final List<SimulatedEndpoint> sims = new ArrayList<>();

  @BeforeAll
  void startCluster() throws IOException {
    assertTrue(Files.isRegularFile(JAR), "the bundled jar is built by `mvn install` before the tests: " + JAR);
    // a cluster left running by an earlier run that was killed outright would hold its ports forever
    LocalFlinkCluster.stop(Paths.get("target", "e2e", "flink-cluster", "cluster"));
    work = Fixtures.workDir("flink-cluster");
    long t0 = System.nanoTime();
    cluster = LocalFlinkCluster.start(LocalFlinkCluster.Settings.in(work.resolve("cluster"))
        .withTaskManagers(2).withSlots(2).withJobJar(JAR));
    System.out.printf("local Flink cluster up in %.1f s at %s, TaskManagers %s%n",
        (System.nanoTime() - t0) / 1e9, cluster.webUrl(), cluster.taskManagerPids());
  }

  @AfterAll
  void stopCluster() {
    try {
      if (cluster != null) {
        cluster.close();
      }
    } finally {
      sims.forEach(SimulatedEndpoint::close);
    }
  }

  @Test
  void sftSubmittedToTheCluster_writesTheSameRowsAsTheDirectRunner_andReconciles() throws Exception {
    SimulatedEndpoint sim = sim(SimulatedEndpoint.Settings.defaults().withLatencyMs(20));
    Path dir = work.resolve("same-rows");
    Path input = dir.resolve("input/conversations.jsonl");
    int conversations = writeMixedConversations(input);
    Path config = dir.resolve("config.yaml");
    Files.writeString(config, Fixtures.config(sim.baseUrl(), 2, 1, 2, "") + Fixtures.BENCHMARK_INPUT);

    Fixtures.Run direct = Fixtures.moaa("sft", "--config=" + config, "--input=" + input, "--output=" + dir.resolve("direct"));
    assertEquals(0, direct.code(), direct.err());

    long t0 = System.nanoTime();
    Submission flink = submit(config, input, dir.resolve("flink"), dir.resolve("flink-client.log"), "--filesToStage=" + JAR);
    int code;
    // as a web UI open on the job does: its view, cached by the REST API, is read all along
    try (WebUi ui = new WebUi()) {
      code = flink.await();
      assertTrue(ui.views() > 0, "the job's view was read while it ran");
    }
    System.out.printf("Flink run of %d conversations: exit %d in %.1f s%n", conversations, code, (System.nanoTime() - t0) / 1e9);
    assertEquals(0, code, flink.describe());
    assertFalse(flink.output().contains("ships no jar"), "the jar was given: it travels\n" + flink.describe());
    assertTrue(flink.output().contains("read " + conversations + " = written " + conversations
        + " + dead-lettered 0 + dropped 0"), flink.describe());
    Fixtures.assertReconciles(Fixtures.manifest(dir.resolve("flink")), conversations, conversations, 0, 0);
    assertEquals("FlinkRunner", Fixtures.manifest(dir.resolve("flink")).path("runner").asText(""),
        "the manifest names the runner: " + Fixtures.manifest(dir.resolve("flink")));

    // every call counted, though the REST API's cached view of the running job was read to the end
    assertEquals(calls(Fixtures.manifest(dir.resolve("direct"))), calls(Fixtures.manifest(dir.resolve("flink"))),
        "calls per model, DirectRunner vs cluster");

    Map<String, String> onFlink = rowsById(dir.resolve("flink/sft/parquet"));
    Map<String, String> onDirect = rowsById(dir.resolve("direct/sft/parquet"));
    assertEquals(conversations, onDirect.size());
    assertEquals(conversations, onFlink.size());
    assertEquals(onDirect, onFlink, "same ids, same messages (every user turn and every synthesized answer)");
    assertTrue(onFlink.values().stream().filter(m -> m.split("\u0001").length == 4).count() >= 30,
        "the two-turn MT-Bench conversations came back with both turns answered");
  }

  @Test
  void aTaskManagerKilledMidRun_costsRepeatedCallsButNoMissingOrDuplicateRow() throws Exception {
    SimulatedEndpoint sim = sim(SimulatedEndpoint.Settings.defaults().withLatencyMs(150).withLatencyJitterMs(50));
    Path dir = work.resolve("recovery");
    Path input = dir.resolve("input/prompts.jsonl");
    Set<String> ids = writePrompts(input, RECOVERY_PROMPTS);
    Path config = dir.resolve("config.yaml");
    Files.writeString(config, Fixtures.config(sim.baseUrl(), 2, 1, 2, "").replace("max_concurrency: 16", "max_concurrency: 8")
        + Fixtures.BENCHMARK_INPUT);

    long t0 = System.nanoTime();
    Submission run = submit(config, input, dir.resolve("out"), dir.resolve("flink-client.log"), "--progressSeconds=1");
    long killAt = RECOVERY_CALLS / 3;
    String jobId = null;
    while (sim.requestCount() < killAt || jobId == null) {
      if (!run.process().isAlive()) {
        fail("the run ended before a third of its calls reached the endpoint (" + sim.requestCount() + ")\n" + run.describe());
      }
      if (System.nanoTime() - t0 > RUN_TIMEOUT.toNanos()) {
        fail("no progress: " + sim.requestCount() + " calls after " + RUN_TIMEOUT + "\n" + run.describe());
      }
      jobId = jobId == null ? runningJobId() : jobId;
      Thread.sleep(50);
    }
    long victim = cluster.taskManagerPids().get(0);
    long callsAtKill = sim.requestCount();
    double killedAfter = (System.nanoTime() - t0) / 1e9;
    cluster.killTaskManager(victim);
    long replacement = cluster.startTaskManager();
    long checkpoints = rest("/jobs/" + jobId + "/checkpoints").path("counts").path("completed").asLong();
    System.out.printf("killed TaskManager %d (SIGKILL) %.1f s into the run, after %d of %d calls and %d completed"
        + " checkpoint(s); started TaskManager %d%n", victim, killedAfter, callsAtKill, RECOVERY_CALLS, checkpoints, replacement);

    int code = run.await();
    double wall = (System.nanoTime() - t0) / 1e9;
    JsonNode job = lastJob();
    assertEquals(jobId, job.path("jid").asText());
    JsonNode restored = rest("/jobs/" + jobId + "/checkpoints").path("latest").path("restored");
    JsonNode failures = rest("/jobs/" + job.path("jid").asText() + "/exceptions").path("exceptionHistory").path("entries");
    long restarts = failures.size();
    long calls = sim.requestCount();
    String resumedFrom = restored.has("id") ? "checkpoint " + restored.path("id").asText() : "the start (no checkpoint)";
    System.out.printf("recovery run: exit %d in %.1f s; Flink job %s %s after %d restart(s), resumed from %s;"
            + " the endpoint received %d calls, a clean run makes %d: %d repeated because of the lost TaskManager%n",
        code, wall, jobId, job.path("state").asText(), restarts, resumedFrom, calls, RECOVERY_CALLS, calls - RECOVERY_CALLS);

    assertEquals(0, code, run.describe());
    // the progress line of a job on a cluster, from the job's metrics there (after the restart they
    // may include the lost attempt's work: the figures are the metrics' sums, not the manifest's)
    assertTrue(run.output().contains("progress every 1 s, from the job's metrics on the cluster"), run.describe());
    List<String> progress = run.output().lines().filter(l -> l.startsWith("progress ")).toList();
    assertTrue(progress.size() >= 5, "a line a second for the run's 20 s and more:\n" + run.describe());
    assertTrue(progress.stream().allMatch(l -> l.matches("progress .*conversations \\d+/\\d+ done .*calls \\d+  retries .*")),
        "the cluster's form, without calls in flight:\n" + run.describe());
    // how soon the chain step's counters show depends on when its bundles end (and the kill): reported
    System.out.println("progress lines with calls: " + progress.stream().filter(l -> l.contains("| calls:")).count()
        + " of " + progress.size());
    assertTrue(run.output().contains("holds this build's classes: the job ships no jar"),
        "the cluster holds this jar: the job ships none\n" + run.describe());
    assertEquals("FINISHED", job.path("state").asText(), job.toString());
    assertTrue(restarts >= 1, "the kill hit the running job (it restarted): " + failures);
    failures.forEach(f -> System.out.println("  job failure: " + f.path("exceptionName").asText() + ": "
        + f.path("stacktrace").asText().lines().findFirst().orElse("")));
    Fixtures.assertReconciles(Fixtures.manifest(dir.resolve("out")), RECOVERY_PROMPTS, RECOVERY_PROMPTS, 0, 0);
    // Flink keeps the counters of the attempt that finished; the folder's call ledger has every
    // request of every attempt, written by each TaskManager as it went out and as it ended: the
    // manifest's paid figures are the ledger's, and equal what the endpoint received and billed
    JsonNode manifest = Fixtures.manifest(dir.resolve("out"));
    JsonNode totals = manifest.path("totals");
    long inDoubt = totals.path("paid_calls_in_doubt").asLong();
    System.out.printf("manifest: %d paid calls (%d in doubt), %d + %d tokens, %d restart(s); the endpoint answered %d,"
            + " billed %d + %d tokens%n", totals.path("paid_calls").asLong(), inDoubt, totals.path("prompt_tokens").asLong(),
        totals.path("completion_tokens").asLong(), manifest.path("restarts").asLong(), sim.requestCount(),
        sim.billedPromptTokens(), sim.billedCompletionTokens());
    assertEquals(restarts, manifest.path("restarts").asLong(), manifest.toString());
    assertTrue(manifest.path("usage_includes_failed_attempts").asBoolean(false), manifest.toString());
    assertEquals("ledger", totals.path("usage_source").asText(), totals.toString());
    // (a request in doubt may have died before it left the killed process: at most those are extra)
    assertTrue(totals.path("paid_calls").asLong() >= sim.requestCount()
            && totals.path("paid_calls").asLong() - inDoubt <= sim.requestCount(),
        "every request the endpoint received, the lost attempt's included: " + manifest.path("ledger"));
    // a request in flight on the killed TaskManager was answered (and billed) by the endpoint, but its
    // usage never reached the ledger: in doubt, its tokens unknown
    assertTrue(totals.path("prompt_tokens").asLong() <= sim.billedPromptTokens());
    assertTrue(sim.billedPromptTokens() - totals.path("prompt_tokens").asLong() <= inDoubt * 400,
        "only the requests in doubt are missing their tokens");
    if (inDoubt == 0) {
      assertEquals(sim.billedPromptTokens(), totals.path("prompt_tokens").asLong());
      assertEquals(sim.billedCompletionTokens(), totals.path("completion_tokens").asLong());
    }
    assertTrue(run.output().contains("the Flink job restarted " + restarts + " time(s): the paid requests"),
        run.describe());
    List<GenericRecord> rows = Fixtures.readParquet(dir.resolve("out/sft/parquet"));
    Map<String, Integer> copies = new TreeMap<>();
    rows.forEach(r -> copies.merge(r.get("id").toString(), 1, Integer::sum));
    Map<String, Integer> duplicated = new TreeMap<>(copies);
    duplicated.values().removeIf(n -> n == 1);
    Set<String> missing = new HashSet<>(ids);
    missing.removeAll(copies.keySet());
    assertEquals(Map.of(), duplicated, "ids written more than once");
    assertEquals(Set.of(), missing, "ids never written");
    assertEquals(RECOVERY_PROMPTS, rows.size());
    assertTrue(calls >= RECOVERY_CALLS, "every call was made at least once: " + calls);
    cluster.waitForTaskManagers(2, Duration.ofSeconds(30));
  }

  /**
   * The SQLite cache on a session cluster whose TaskManagers all run on this host: a TaskManager
   * killed a third of the way in, the job restarts, and what was answered before the kill comes
   * from the cache: the endpoint receives at most the clean run's requests plus those in flight at
   * the kill, and the ledger has every one of them.
   */
  @Test
  void withTheSqliteCacheOnThisHost_aTaskManagerKilledMidRunPaysNothingTwice() throws Exception {
    SimulatedEndpoint sim = sim(SimulatedEndpoint.Settings.defaults().withLatencyMs(150).withLatencyJitterMs(50));
    Path dir = work.resolve("sqlite-recovery");
    Path input = dir.resolve("input/prompts.jsonl");
    Set<String> ids = writePrompts(input, RECOVERY_PROMPTS);
    Path config = dir.resolve("config.yaml");
    Files.writeString(config, Fixtures.config(sim.baseUrl(), 2, 1, 2, "").replace("max_concurrency: 16", "max_concurrency: 8")
        + "cache: {backend: sqlite, path: " + dir.resolve("cache/responses.sqlite").toAbsolutePath() + "}\n"
        + Fixtures.BENCHMARK_INPUT);
    long t0 = System.nanoTime();
    Submission run = submit(config, input, dir.resolve("out"), dir.resolve("flink-client.log"));
    while (sim.requestCount() < RECOVERY_CALLS / 3) {
      if (!run.process().isAlive() || System.nanoTime() - t0 > RUN_TIMEOUT.toNanos()) {
        fail("the run did not get a third of the way: " + sim.requestCount() + "\n" + run.describe());
      }
      Thread.sleep(20);
    }
    int inFlight = sim.modelNames().stream().mapToInt(sim::inFlight).sum();
    long victim = cluster.taskManagerPids().get(0);
    long atKill = sim.requestCount();
    cluster.killTaskManager(victim);
    long replacement = cluster.startTaskManager();
    int code = run.await();
    JsonNode manifest = Fixtures.manifest(dir.resolve("out"));
    JsonNode totals = manifest.path("totals");
    System.out.printf("sqlite recovery: killed TaskManager %d after %d requests (%d in flight), started %d; exit %d,"
            + " %d restart(s); the endpoint received %d (a clean run makes %d); ledger %d paid (%d in doubt); cache hits %d%n",
        victim, atKill, inFlight, replacement, code, manifest.path("restarts").asLong(), sim.requestCount(),
        RECOVERY_CALLS, totals.path("paid_calls").asLong(), totals.path("paid_calls_in_doubt").asLong(),
        totals.path("cache_hits").asLong());
    assertEquals(0, code, run.describe());
    Fixtures.assertReconciles(manifest, RECOVERY_PROMPTS, RECOVERY_PROMPTS, 0, 0);
    assertEquals(ids, rowsById(dir.resolve("out/sft/parquet")).keySet(), "every id, once");
    // what the killed TaskManager had sent and not seen answered is in doubt in the ledger (its
    // intents without outcomes): only those may be sent again, once each
    long inDoubt = totals.path("paid_calls_in_doubt").asLong();
    long probes = manifest.path("preflight").path("requests").asLong();
    assertTrue(inDoubt <= 3 * 8, "at most the killed TaskManager's calls in flight (8 per model): " + inDoubt);
    assertTrue(sim.requestCount() <= RECOVERY_CALLS + probes + inDoubt, "nothing answered before the kill was paid"
        + " again: " + sim.requestCount() + " > " + RECOVERY_CALLS + " + " + probes + " probes + " + inDoubt + " in doubt");
    long paid = totals.path("paid_calls").asLong();
    assertTrue(paid >= sim.requestCount() && paid - totals.path("paid_calls_in_doubt").asLong() <= sim.requestCount(),
        "the ledger has every request: " + manifest.path("ledger"));
    cluster.waitForTaskManagers(2, Duration.ofSeconds(30));
  }

  /**
   * A run that waits for its job owns it: Ctrl-C (SIGINT) of the client cancels the job on the
   * cluster within 10 s, and the run says so; a job only submitted is cancelled by {@code moaa
   * cancel --output=...}. Either way the folder is free again for the same command.
   */
  @Test
  void ctrlCOfAnAttachedRun_cancelsItsJobWithin10s_andMoaaCancelStopsASubmittedOne() throws Exception {
    SimulatedEndpoint sim = sim(SimulatedEndpoint.Settings.defaults().withLatencyMs(400));
    Path dir = work.resolve("cancel");
    Path input = dir.resolve("input/prompts.jsonl");
    writePrompts(input, 400);
    Path config = dir.resolve("config.yaml");
    Files.writeString(config, Fixtures.config(sim.baseUrl(), 2, 1, 2, "").replace("max_concurrency: 16", "max_concurrency: 2")
        + Fixtures.BENCHMARK_INPUT);
    Submission run = submit(config, input, dir.resolve("attached"), dir.resolve("attached.log"));
    long t0 = System.nanoTime();
    String jobId = null;
    while (jobId == null || sim.requestCount() < 10) {
      if (!run.process().isAlive() || System.nanoTime() - t0 > RUN_TIMEOUT.toNanos()) {
        fail("the job did not start calling\n" + run.describe());
      }
      jobId = jobId == null ? runningJobId() : jobId;
      Thread.sleep(50);
    }
    long sigint = System.nanoTime();
    assertEquals(0, new ProcessBuilder("kill", "-INT", String.valueOf(run.process().pid())).start().waitFor());
    String state = "";
    while (System.nanoTime() - sigint < TimeUnit.SECONDS.toNanos(10)) {
      state = rest("/jobs/" + jobId).path("state").asText();
      if (state.equals("CANCELED")) {
        break;
      }
      Thread.sleep(100);
    }
    double took = (System.nanoTime() - sigint) / 1e9;
    assertTrue(run.process().waitFor(30, TimeUnit.SECONDS), "the client ends");
    System.out.printf("ctrl-c: job %s %s %.1f s after SIGINT; client said: %s%n", jobId, state, took,
        run.output().lines().filter(l -> l.contains("cancelled")).findFirst().orElse("(nothing)"));
    assertEquals("CANCELED", state, "the job is cancelled within 10 s of Ctrl-C\n" + run.describe());
    assertTrue(run.output().contains("was cancelled"), run.describe());
    assertFalse(Files.exists(dir.resolve("attached/_lease.json")), "the folder's lease was given back");

    Fixtures.Run submitted = Fixtures.moaa("sft", "--config=" + config, "--input=" + input,
        "--output=" + dir.resolve("submitted"), "--runner=FlinkRunner", "--flinkMaster=" + cluster.restAddress(),
        "--submitOnly");
    assertEquals(0, submitted.code(), submitted.out() + submitted.err());
    String submittedJob = Fixtures.JSON.readTree(Files.readString(dir.resolve("submitted/_run/submitted.json")))
        .path("job_id").asText();
    Fixtures.Run cancel = Fixtures.moaa("cancel", "--output=" + dir.resolve("submitted"));
    System.out.println("moaa cancel: " + cancel.out() + cancel.err());
    assertEquals(0, cancel.code(), cancel.out() + cancel.err());
    assertTrue(cancel.out().contains(submittedJob) && cancel.out().contains("CANCELED"), cancel.out());
    assertEquals("CANCELED", rest("/jobs/" + submittedJob).path("state").asText());
  }

  /**
   * A session job as the Flink Kubernetes Operator runs one: the bundled jar uploaded to the session
   * cluster's REST API ({@code POST /jars/upload}) and its main run by the JobManager ({@code POST
   * /jars/:id/run}, the job's entry class and arguments), with no client process waiting for the
   * job. The run submits its job and returns without ending the JobManager's JVM; {@code moaa
   * finish} then waits for the job, reconciles it and writes the manifest, card and report, with
   * every call the endpoint answered counted. A session job with a bad flag fails its submission
   * with the command's own words, and the JobManager stays up.
   */
  @Test
  void sftAsASessionJob_runByTheJobManager_thenFinished_reconcilesAndCountsEveryCall() throws Exception {
    SimulatedEndpoint sim = sim(SimulatedEndpoint.Settings.defaults().withLatencyMs(20));
    Path dir = work.resolve("session-job");
    Path input = dir.resolve("input/prompts.jsonl");
    int prompts = 120;
    Set<String> ids = writePrompts(input, prompts);
    Path config = dir.resolve("config.yaml");
    Files.writeString(config, Fixtures.config(sim.baseUrl(), 2, 1, 2, "")
        + "cache: {backend: sqlite, path: " + dir.resolve("cache.sqlite") + "}\n" + Fixtures.BENCHMARK_INPUT);
    Path out = dir.resolve("out");
    long jobManager = cluster.jobManagerPid();

    String jarId = uploadJar();
    // as the operator's session job: the entry class, the arguments, the parallelism; no --runner:
    // inside the cluster the job runs on it
    JsonNode ran = runJar(jarId, List.of("sft", "--config=" + config, "--input=" + input, "--output=" + out,
        "--streaming=false"), 2);
    assertTrue(ran.has("jobid"), "the JobManager ran the jar's main and it submitted a job: " + ran);
    String jobId = ran.path("jobid").asText();
    JsonNode submitted = Fixtures.JSON.readTree(Files.readString(out.resolve("_run/submitted.json")));
    assertEquals(jobId, submitted.path("job_id").asText(), "the run recorded its job: " + submitted);
    assertEquals("sft", submitted.path("command").asText());
    assertTrue(ProcessHandle.of(jobManager).map(ProcessHandle::isAlive).orElse(false),
        "the run returned without ending the JobManager's JVM");
    assertTrue(Files.notExists(out.resolve("manifest.json")), "the manifest is the finishing command's to write");

    Fixtures.Run finish;
    try (WebUi ui = new WebUi()) {
      finish = Fixtures.moaa("finish", "--config=" + config, "--output=" + out, "--flinkMaster=" + cluster.restAddress(),
          "--progressSeconds=1");
    }
    System.out.println("moaa finish:\n" + finish.out() + finish.err());
    assertEquals(0, finish.code(), finish.out() + finish.err());
    assertTrue(finish.out().contains("read " + prompts + " = written " + prompts + " + dead-lettered 0 + dropped 0"),
        finish.out());
    JsonNode manifest = Fixtures.manifest(out);
    Fixtures.assertReconciles(manifest, prompts, prompts, 0, 0);
    assertEquals("DONE", manifest.path("state").asText(), manifest.toString());
    assertEquals(0, manifest.path("exit_code").asInt(-1));
    assertEquals("FlinkRunner", manifest.path("runner").asText());
    // money: every request the endpoint answered is in the manifest (the job's calls, summed on the
    // TaskManagers and read back from the cluster, and the preflight the JobManager sent)
    long paid = manifest.path("totals").path("paid_calls").asLong();
    assertEquals(sim.requestCount(), paid, "paid calls in the manifest vs requests the endpoint answered: " + manifest);
    assertEquals(prompts * 3L + 3, paid, "2 proposers and the aggregator per prompt, and one probe per model");
    long calls = 0;
    for (JsonNode m : manifest.path("models")) {
      calls += m.path("calls").asLong();
    }
    assertEquals(prompts * 3L, calls, manifest.path("models").toString());
    assertTrue(Files.isRegularFile(out.resolve("README.md")), "the dataset card is written");
    assertTrue(Files.isRegularFile(out.resolve("report.html")), "the report is written");
    List<GenericRecord> rows = Fixtures.readParquet(out.resolve("sft/parquet"));
    Set<String> written = new HashSet<>();
    rows.forEach(r -> written.add(r.get("id").toString()));
    assertEquals(ids, written);
    assertEquals(prompts, rows.size());

    Fixtures.Run again = Fixtures.moaa("finish", "--config=" + config, "--output=" + out,
        "--flinkMaster=" + cluster.restAddress());
    assertEquals(0, again.code(), again.out() + again.err());
    assertTrue(again.out().contains("is finished (DONE)"), again.out());

    // a session job whose arguments are wrong: the submission fails with the command's words
    HttpResponse<String> bad = runJarRaw(jarId, List.of("sft", "--config=" + config, "--input=" + input,
        "--output=" + dir.resolve("bad"), "--shardz=3"), 1);
    assertTrue(bad.statusCode() >= 400, bad.statusCode() + ": " + bad.body());
    assertTrue(bad.body().contains("ended with exit code 2"), bad.body());
    assertTrue(ProcessHandle.of(jobManager).map(ProcessHandle::isAlive).orElse(false), "the JobManager is still up");
    assertEquals(200, HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(cluster.webUrl() + "/overview"))
        .build(), HttpResponse.BodyHandlers.ofString()).statusCode());
  }

  // ------------------------------------------------------------------------------------ helpers

  private SimulatedEndpoint sim(SimulatedEndpoint.Settings settings) {
    SimulatedEndpoint sim = SimulatedEndpoint.start(settings);
    sims.add(sim);
    return sim;
  }

  /** A run of the bundled jar in its own JVM, as a user submits one; its output goes to a log file. */
  private record Submission(Process process, Path log) {
    int await() throws InterruptedException {
      if (!process.waitFor(RUN_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
        process.destroyForcibly();
        fail("the Flink submission did not finish within " + RUN_TIMEOUT + "\n" + describe());
      }
      return process.exitValue();
    }

    String output() {
      try {
        return Files.readString(log, StandardCharsets.UTF_8);
      } catch (IOException e) {
        return "(no log: " + e.getMessage() + ")";
      }
    }

    String describe() {
      return "client log " + log + ":\n" + output();
    }
  }

  private Submission submit(Path config, Path input, Path output, Path log, String... flags) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(Paths.get(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx1g",
        "-jar", JAR.toString(), "sft", "--config=" + config, "--input=" + input, "--output=" + output,
        "--runner=FlinkRunner", "--flinkMaster=" + cluster.restAddress(), "--parallelism=4"));
    cmd.addAll(List.of(flags));
    Files.createDirectories(log.getParent());
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    return new Submission(p, log);
  }

  /** 30 two-turn MT-Bench questions and 30 single-turn chat rows (10 with a system prompt). */
  private int writeMixedConversations(Path file) throws IOException {
    Files.createDirectories(file.getParent());
    List<String> lines = new ArrayList<>();
    try (InputStream in = getClass().getResourceAsStream("/SftEndToEndTest/mt_bench_question.jsonl")) {
      new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().filter(l -> !l.isBlank()).limit(30).forEach(lines::add);
    }
    for (int i = 0; i < 30; i++) {
      String system = i < 10 ? "{\"role\":\"system\",\"content\":\"Answer in one paragraph. Row " + i + ".\"}," : "";
      lines.add("{\"id\":\"chat-" + i + "\",\"messages\":[" + system
          + "{\"role\":\"user\",\"content\":\"Chat row " + i + ": why do stream processors checkpoint their state?\"}]}");
    }
    Files.write(file, lines, StandardCharsets.UTF_8);
    return lines.size();
  }

  private static Set<String> writePrompts(Path file, int n) throws IOException {
    Files.createDirectories(file.getParent());
    Set<String> ids = new HashSet<>();
    try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
      for (int i = 0; i < n; i++) {
        String id = String.format("rec-%04d", i);
        ids.add(id);
        w.write("{\"id\":\"" + id + "\",\"prompt\":\"Prompt " + i + ": explain exactly-once delivery to a new engineer.\"}\n");
      }
    }
    return ids;
  }

  /** id -> every message as role:content, in order (the rows' identity across runners). */
  private static Map<String, String> rowsById(Path parquetDir) throws IOException {
    Map<String, String> rows = new HashMap<>();
    for (GenericRecord r : Fixtures.readParquet(parquetDir)) {
      List<String> messages = new ArrayList<>();
      for (Object m : (List<?>) r.get("messages")) {
        GenericRecord g = (GenericRecord) m;
        messages.add(g.get("role") + ":" + g.get("content"));
      }
      String previous = rows.put(r.get("id").toString(), String.join("\u0001", messages));
      assertEquals(null, previous, "id written twice in " + parquetDir + ": " + r.get("id"));
    }
    return rows;
  }

  /** Calls per model in a run's manifest. */
  private static Map<String, Long> calls(JsonNode manifest) {
    Map<String, Long> calls = new TreeMap<>();
    manifest.path("models").fields().forEachRemaining(e -> calls.put(e.getKey(), e.getValue().path("calls").asLong()));
    return calls;
  }

  /**
   * Reads what Flink's web UI reads while a job runs (its details and accumulators, every 200 ms),
   * which keeps the REST API's cached view of the running job fresh to the job's end.
   */
  private final class WebUi implements AutoCloseable {
    private final Thread thread;
    private volatile boolean stop;
    private volatile int views;

    WebUi() {
      thread = new Thread(() -> {
        while (!stop) {
          try {
            for (JsonNode j : rest("/jobs/overview").path("jobs")) {
              if (j.path("state").asText().equals("RUNNING")) {
                rest("/jobs/" + j.path("jid").asText());
                rest("/jobs/" + j.path("jid").asText() + "/accumulators");
                views++;
              }
            }
            Thread.sleep(200);
          } catch (InterruptedException e) {
            return;
          } catch (IOException | RuntimeException | AssertionError e) {
            // the cluster is busy: ask again
          }
        }
      }, "web-ui");
      thread.setDaemon(true);
      thread.start();
    }

    int views() {
      return views;
    }

    @Override
    public void close() throws InterruptedException {
      stop = true;
      thread.join(5000);
    }
  }

  /** Uploads the bundled jar to the cluster as Flink's web client (and the operator) do; its id on the cluster. */
  private String uploadJar() throws IOException, InterruptedException {
    String boundary = "moaa-" + System.nanoTime();
    HttpRequest.BodyPublisher body = HttpRequest.BodyPublishers.concat(
        HttpRequest.BodyPublishers.ofString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"jarfile\";"
            + " filename=\"moaa.jar\"\r\nContent-Type: application/x-java-archive\r\n\r\n"),
        HttpRequest.BodyPublishers.ofFile(JAR),
        HttpRequest.BodyPublishers.ofString("\r\n--" + boundary + "--\r\n"));
    HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(cluster.webUrl() + "/jars/upload"))
        .header("Content-Type", "multipart/form-data; boundary=" + boundary).timeout(Duration.ofMinutes(2))
        .POST(body).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), r.body());
    String file = Fixtures.JSON.readTree(r.body()).path("filename").asText();
    return Paths.get(file).getFileName().toString();
  }

  private JsonNode runJar(String jarId, List<String> args, int parallelism) throws IOException, InterruptedException {
    HttpResponse<String> r = runJarRaw(jarId, args, parallelism);
    assertEquals(200, r.statusCode(), r.body());
    return Fixtures.JSON.readTree(r.body());
  }

  /** {@code POST /jars/:id/run} with the body the operator sends for a session job. */
  private HttpResponse<String> runJarRaw(String jarId, List<String> args, int parallelism)
      throws IOException, InterruptedException {
    com.fasterxml.jackson.databind.node.ObjectNode request = Fixtures.JSON.createObjectNode();
    request.put("entryClass", "dev.moaa.runners.Moaa");
    args.forEach(request.putArray("programArgsList")::add);
    request.put("parallelism", parallelism);
    return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(cluster.webUrl() + "/jars/" + jarId + "/run"))
        .header("Content-Type", "application/json").timeout(Duration.ofMinutes(2))
        .POST(HttpRequest.BodyPublishers.ofString(request.toString())).build(), HttpResponse.BodyHandlers.ofString());
  }

  /** The id of the job the cluster runs now, null while there is none. */
  private String runningJobId() throws IOException, InterruptedException {
    for (JsonNode j : rest("/jobs/overview").path("jobs")) {
      if (j.path("state").asText().equals("RUNNING")) {
        return j.path("jid").asText();
      }
    }
    return null;
  }

  private JsonNode lastJob() throws IOException, InterruptedException {
    JsonNode jobs = rest("/jobs/overview").path("jobs");
    JsonNode last = null;
    for (JsonNode j : jobs) {
      if (last == null || j.path("start-time").asLong() > last.path("start-time").asLong()) {
        last = j;
      }
    }
    assertTrue(last != null, "the cluster lists no job");
    return last;
  }

  private JsonNode rest(String path) throws IOException, InterruptedException {
    HttpResponse<String> r = HttpClient.newHttpClient().send(
        HttpRequest.newBuilder(URI.create(cluster.webUrl() + path)).timeout(Duration.ofSeconds(10)).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), path + ": " + r.body());
    return Fixtures.JSON.readTree(r.body());
  }
}

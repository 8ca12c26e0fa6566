package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.runners.launch.LocalRedis;
import dev.moaa.runners.flink.LocalFlinkCluster;
import dev.moaa.runners.sim.SimulatedEndpoint;
import dev.moaa.transforms.limits.Coordination;
import dev.moaa.transforms.limits.Coordinator;
import java.io.BufferedWriter;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Shared limits on a real local Flink cluster (2 TaskManagers x 2 slots, each its own JVM, so each
 * its own per-JVM request gate): one {@code moaa sft} job at parallelism 4 coordinated through one
 * redis-server keeps every model at its {@code max_concurrency} for the whole cluster, not per
 * TaskManager; and when a TaskManager dies with SIGKILL, the slots it held come back within the
 * lease time to live while the job restarts, and the run still writes every id exactly once. While
 * the first job runs, the Flink web UI's REST API already shows its per-model {@code calls/<model>}
 * counters, before any shard is written. Tagged {@code cluster}, like {@link LocalFlinkClusterTest}.
 */
@Tag("cluster")
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class CoordinatedFlinkClusterTest {
  private static final Path JAR = Paths.get("..", "runners", "target", "moaa.jar").toAbsolutePath().normalize();
  private static final Duration RUN_TIMEOUT = Duration.ofMinutes(3);
  private static final int LIMIT = 16;
  private static final List<String> MODELS = List.of("p1", "p2", "agg");

  private Path work;
  private LocalRedis redis;
  private LocalFlinkCluster cluster;
  private final List<SimulatedEndpoint> sims = new ArrayList<>();

  @BeforeAll
  void start() throws IOException {
    assertTrue(Files.isRegularFile(JAR), "the bundled jar is built by `mvn install` before the tests: " + JAR);
    LocalFlinkCluster.stop(Paths.get("target", "e2e", "coord-flink", "cluster"));
    work = Fixtures.workDir("coord-flink");
    redis = LocalRedis.start();
    long t0 = System.nanoTime();
    cluster = LocalFlinkCluster.start(LocalFlinkCluster.Settings.in(work.resolve("cluster"))
        .withTaskManagers(2).withSlots(2).withJobJar(JAR));
    System.out.printf(Locale.ROOT, "local Flink cluster up in %.1f s, TaskManagers %s; redis at %s%n",
        (System.nanoTime() - t0) / 1e9, cluster.taskManagerPids(), redis.url());
  }

  @AfterAll
  void stop() {
    try {
      if (cluster != null) {
        cluster.close();
      }
    } finally {
      sims.forEach(SimulatedEndpoint::close);
      if (redis != null) {
        redis.close();
      }
    }
  }

  @Test
  void givenFourSubtasksOnTwoTaskManagers_atMostMaxConcurrencyCallsOfAModelAreInFlight() throws Exception {
    SimulatedEndpoint sim = sim(SimulatedEndpoint.Settings.defaults().withLatencyMs(100)
        .withMaxInFlightPerModel(10_000));
    Path dir = work.resolve("peak");
    int prompts = 800;
    Set<String> ids = writePrompts(dir.resolve("input/prompts.jsonl"), prompts);
    String key = "flink-peak-" + UUID.randomUUID();
    Path config = writeConfig(dir, sim, key, "");

    long t0 = System.nanoTime();
    long submittedAtMs = System.currentTimeMillis();
    Process run = submit(config, dir.resolve("input/prompts.jsonl"), dir.resolve("out"), dir.resolve("client.log"));
    // the Flink REST API, as the web UI reads it, while the job runs
    AtomicReference<String> seen = new AtomicReference<>();
    Thread watcher = new Thread(() -> seen.set(watchCallCounters(submittedAtMs, run, dir.resolve("out"), prompts)),
        "flink-metrics-watcher");
    watcher.setDaemon(true);
    watcher.start();
    int code = await(run, dir.resolve("client.log"));
    System.out.printf(Locale.ROOT, "coordinated Flink run of %d prompts: exit %d in %.1f s%n", prompts, code,
        (System.nanoTime() - t0) / 1e9);
    assertEquals(0, code, log(dir.resolve("client.log")));
    watcher.join(10_000);
    String counters = seen.get();
    System.out.println("coordinated Flink peak: per-model counters in the web UI before any shard: " + counters);
    assertTrue(counters != null && counters.startsWith("seen"), "the Flink REST API showed per-model calls/..."
        + " counters while the job ran and before any shard was written: " + counters);

    for (String model : sim.modelNames()) {
      long[] span = sim.arrivalSpanNanos(model);
      System.out.printf(Locale.ROOT, "coordinated Flink peak: %s peak in flight %d (limit %d for the cluster; %d"
          + " without coordination), %d calls over %.1f s%n", model, sim.peakInFlight(model), LIMIT, 2 * LIMIT,
          sim.receivedCount(model), (span[1] - span[0]) / 1e9);
      assertTrue(sim.peakInFlight(model) <= LIMIT, model + ": peak " + sim.peakInFlight(model) + " > " + LIMIT);
    }
    assertTrue(sim.peakInFlight("sim-proposer-1") >= LIMIT * 3 / 4,
        "the calls pressed on the shared limit: peak " + sim.peakInFlight("sim-proposer-1"));
    JsonNode manifest = Fixtures.manifest(dir.resolve("out"));
    Fixtures.assertReconciles(manifest, prompts, prompts, 0, 0);
    JsonNode c = manifest.path("coordination");
    System.out.println("coordinated Flink peak: manifest coordination: " + c);
    assertEquals("redis", c.path("backend").asText(), c.toString());
    assertEquals(key, c.path("key").asText(), c.toString());
    assertTrue(c.path("round_trips").asLong() > 0, c.toString());
    assertTrue(c.path("round_trips_per_call").asDouble() > 0 && c.path("round_trips_per_call").asDouble() < 20,
        c.toString());
    assertEveryIdOnce(dir.resolve("out"), ids, 0);
  }

  @Test
  void givenATaskManagerKilledMidRun_itsSlotsComeBackWithinTheLeaseTtl_andNoRowIsLostOrDuplicated()
      throws Exception {
    long ttlMs = 2000;
    long latencyMs = 1200;
    SimulatedEndpoint sim = sim(SimulatedEndpoint.Settings.defaults().withLatencyMs(latencyMs).withLatencyJitterMs(200)
        .withMaxInFlightPerModel(10_000));
    Path dir = work.resolve("lease");
    int prompts = 160;
    Set<String> ids = writePrompts(dir.resolve("input/prompts.jsonl"), prompts);
    String key = "flink-lease-" + UUID.randomUUID();
    Path config = writeConfig(dir, sim, key, ", lease_ttl_ms: " + ttlMs);
    MoaaConfig parsed = MoaaConfig.load(config);
    Map<String, String> inStore = new LinkedHashMap<>();
    MODELS.forEach(m -> inStore.put(m, parsed.models().get(m).coordinationId()));

    try (Coordinator observer = Coordination.redis(redis.url(), key).withLeaseTtl(Duration.ofMillis(ttlMs)).open()) {
      long t0 = System.nanoTime();
      // the restart waits 8 s, so the cluster holds no call between the failure and the restart
      Process run = submit(config, dir.resolve("input/prompts.jsonl"), dir.resolve("out"), dir.resolve("client.log"),
          "--executionRetryDelay=8000");
      Map<String, Integer> beforeKill = held(observer, inStore);
      while (beforeKill.get("p1") < LIMIT * 3 / 4 || sim.requestCount() < 3 * LIMIT) {
        if (!run.isAlive()) {
          fail("the run ended before the calls filled the slots\n" + log(dir.resolve("client.log")));
        }
        if (System.nanoTime() - t0 > RUN_TIMEOUT.toNanos()) {
          fail("no calls in flight after " + RUN_TIMEOUT + ": " + beforeKill + "\n" + log(dir.resolve("client.log")));
        }
        Thread.sleep(50);
        beforeKill = held(observer, inStore);
      }
      // the victim is the TaskManager with the most connections to the endpoint: the one holding slots
      Map<Long, Integer> connections = new TreeMap<>();
      cluster.taskManagerPids().forEach(pid -> connections.put(pid, connectionsTo(pid, sim.port())));
      long victim = connections.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow().getKey();
      long callsAtKill = sim.requestCount();
      long killedAt = System.nanoTime();
      cluster.killTaskManager(victim);

      // the survivor's calls end within a call's latency; the dead TaskManager's leases expire
      // within the TTL of their last renewal: then nothing is held until the job restarts
      long recoveredAt = -1;
      Map<String, Integer> now = held(observer, inStore);
      List<String> trajectory = new ArrayList<>(List.of("0 ms " + now));
      int most = 0;
      long deadline = killedAt + TimeUnit.MILLISECONDS.toNanos(ttlMs + latencyMs + 4000);
      while (System.nanoTime() < deadline) {
        Map<String, Integer> next = held(observer, inStore);
        long at = System.nanoTime();
        if (!next.equals(now)) {
          trajectory.add((at - killedAt) / 1_000_000 + " ms " + next);
          now = next;
        }
        most = Math.max(most, now.values().stream().mapToInt(Integer::intValue).max().orElse(0));
        if (now.values().stream().allMatch(n -> n == 0)) {
          recoveredAt = at;
          break;
        }
        Thread.sleep(20);
      }
      long replacement = cluster.startTaskManager();
      System.out.printf(Locale.ROOT, "lease recovery: connections to the endpoint by TaskManager %s; killed"
          + " TaskManager %d (SIGKILL) %.1f s into the run after %d calls, slots held then %s%n", connections, victim,
          (killedAt - t0) / 1e9, callsAtKill, beforeKill);
      System.out.printf(Locale.ROOT, "lease recovery: every slot back %s after the kill (lease TTL %d ms, renewed"
          + " every third; call latency %d ms); then started TaskManager %d%n", recoveredAt < 0 ? "NOT within "
          + (deadline - killedAt) / 1_000_000 + " ms" : (recoveredAt - killedAt) / 1_000_000 + " ms", ttlMs,
          latencyMs, replacement);
      System.out.println("lease recovery: slots held after the kill: " + String.join(", ", trajectory));
      assertTrue(most <= LIMIT, "never more than the limit held: " + most);
      assertTrue(recoveredAt > 0, "the dead TaskManager's slots came back within the lease TTL"
          + " (plus the survivor's last calls): "
          + trajectory);

      int code = await(run, dir.resolve("client.log"));
      System.out.printf(Locale.ROOT, "lease recovery run: exit %d in %.1f s; the endpoint received %d calls (a clean"
          + " run makes %d); peaks %s%n", code, (System.nanoTime() - t0) / 1e9, sim.requestCount(), prompts * 3,
          peaks(sim));
      assertEquals(0, code, log(dir.resolve("client.log")));
      assertTrue(sim.requestCount() >= prompts * 3, "every call was made at least once: " + sim.requestCount());
      System.out.println("lease recovery: manifest coordination: "
          + Fixtures.manifest(dir.resolve("out")).path("coordination"));
      for (String model : sim.modelNames()) {
        assertTrue(sim.peakInFlight(model) <= LIMIT, model + ": peak " + sim.peakInFlight(model));
      }
      JsonNode counts = Fixtures.manifest(dir.resolve("out")).path("counts");
      long dead = counts.path("dead_lettered").asLong();
      assertEquals(counts.path("read").asLong(), counts.path("written").asLong() + dead
          + counts.path("dropped").asLong(), "read = written + dead-lettered + dropped: " + counts);
      assertEquals(prompts, counts.path("read").asLong(), counts.toString());
      assertTrue(counts.path("reconciled").asBoolean(), counts.toString());
      assertEveryIdOnce(dir.resolve("out"), ids, dead);
      cluster.waitForTaskManagers(2, Duration.ofSeconds(30));
    }
  }

  /**
   * A restart must neither stall nor pay twice. With a Redis cache and coordination on a cluster of
   * three TaskManagers, one killed a third of the way in: Flink restarts the job on the two left,
   * the run ends with exit 0 and reconciles, the endpoint receives at most the clean run's requests
   * plus those in flight at the kill (what the survivors had in flight finishes and is cached), and
   * the manifest's paid requests, tokens and cost are the folder's ledger's, equal to what the
   * endpoint received and billed. (Before, the surviving TaskManagers' call threads waited for ever
   * in the JVM's gate after the restart: a call that met its worker's closed coordinator kept its
   * permit.)
   */
  @Test
  void givenARedisCacheOnThreeTaskManagers_aTaskManagerKilledAThirdIn_theRunFinishes_andNoRequestIsPaidTwice()
      throws Exception {
    long third = cluster.startTaskManager();
    cluster.waitForTaskManagers(3, Duration.ofSeconds(60));
    SimulatedEndpoint sim = sim(SimulatedEndpoint.Settings.defaults().withLatencyMs(150).withLatencyJitterMs(50)
        .withMaxInFlightPerModel(10_000));
    Path dir = work.resolve("cache-restart");
    int prompts = 400;
    int clean = prompts * 3;
    Set<String> ids = writePrompts(dir.resolve("input/prompts.jsonl"), prompts);
    String key = "flink-cache-restart-" + UUID.randomUUID();
    Path config = dir.resolve("moaa.yaml");
    Files.createDirectories(dir);
    Files.writeString(config, Fixtures.config(sim.baseUrl(), 2, 1, 2, "  adaptive_concurrency: false\n")
        + "cache: {backend: redis, url: \"" + redis.url() + "\", lock_ttl_ms: 2000}\n"
        + "coordination: {backend: redis, url: \"" + redis.url() + "\", key: " + key + ", lease_ttl_ms: 2000}\n",
        StandardCharsets.UTF_8);
    long t0 = System.nanoTime();
    Process run = submit(config, dir.resolve("input/prompts.jsonl"), dir.resolve("out"), dir.resolve("client.log"),
        "--executionRetryDelay=2000");
    while (sim.requestCount() < clean / 3) {
      if (!run.isAlive()) {
        fail("the run ended before a third of its calls\n" + log(dir.resolve("client.log")));
      }
      if (System.nanoTime() - t0 > RUN_TIMEOUT.toNanos()) {
        fail("no progress: " + sim.requestCount() + " calls\n" + log(dir.resolve("client.log")));
      }
      Thread.sleep(20);
    }
    Map<Long, Integer> connections = new TreeMap<>();
    cluster.taskManagerPids().forEach(pid -> connections.put(pid, connectionsTo(pid, sim.port())));
    long victim = connections.entrySet().stream().max(Map.Entry.comparingByValue()).orElseThrow().getKey();
    int inFlightAtKill = sim.modelNames().stream().mapToInt(sim::inFlight).sum();
    long callsAtKill = sim.requestCount();
    cluster.killTaskManager(victim);
    System.out.printf(Locale.ROOT, "cache restart: TaskManagers %s (started %d for this test); killed %d (SIGKILL)"
        + " %.1f s in, after %d requests, %d in flight at the endpoint%n", connections.keySet(), third, victim,
        (System.nanoTime() - t0) / 1e9, callsAtKill, inFlightAtKill);

    int code = await(run, dir.resolve("client.log"));
    JsonNode manifest = Fixtures.manifest(dir.resolve("out"));
    JsonNode totals = manifest.path("totals");
    long inDoubt = totals.path("paid_calls_in_doubt").asLong();
    System.out.printf(Locale.ROOT, "cache restart: exit %d in %.1f s, %d restart(s); the endpoint received %d"
            + " requests (a clean run makes %d, %d were in flight at the kill); manifest %d paid (%d in doubt), cache"
            + " hits %d%n", code, (System.nanoTime() - t0) / 1e9, manifest.path("restarts").asLong(), sim.requestCount(),
        clean, inFlightAtKill, totals.path("paid_calls").asLong(), inDoubt, totals.path("cache_hits").asLong());
    assertEquals(0, code, log(dir.resolve("client.log")));
    assertTrue(manifest.path("restarts").asLong() >= 1, "the kill hit the running job: " + manifest);
    Fixtures.assertReconciles(manifest, prompts, prompts, 0, 0);
    assertEveryIdOnce(dir.resolve("out"), ids, 0);
    // in flight at the kill: what the killed TaskManager had sent without an answer, in doubt in the
    // ledger (the endpoint's own in-flight figure, read just before the kill, misses the last sends)
    assertTrue(inDoubt <= 3L * LIMIT, "at most max_concurrency per model in flight: " + inDoubt);
    assertTrue(sim.requestCount() <= clean + inDoubt, "at most the clean run's requests plus those in"
        + " flight at the kill: " + sim.requestCount() + " > " + clean + " + " + inDoubt);
    assertTrue(totals.path("paid_calls").asLong() >= sim.requestCount()
        && totals.path("paid_calls").asLong() - inDoubt <= sim.requestCount(),
        "the ledger has every request the endpoint received: " + manifest.path("ledger"));
    assertTrue(sim.billedPromptTokens() - totals.path("prompt_tokens").asLong() <= inDoubt * 400,
        "only the requests in doubt lack their tokens: " + totals);
    cluster.waitForTaskManagers(2, Duration.ofSeconds(30));
  }

  // ------------------------------------------------------------------------------------ helpers

  /**
   * Polls the cluster's REST API (what the Flink web UI shows) for the job submitted at or after
   * {@code sinceMs}: returns {@code "seen ..."} with the per-model {@code calls/<model>} counters
   * of the first poll that shows one above zero for every model while the job is running, fewer
   * calls than the run makes, and no shard in the output folder yet; otherwise why not.
   */
  private String watchCallCounters(long sinceMs, Process run, Path out, int prompts) {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    ObjectMapper json = new ObjectMapper();
    String base = "http://" + cluster.restAddress();
    String last = "no running job found";
    while (run.isAlive()) {
      try {
        String jobId = null;
        for (JsonNode j : json.readTree(get(http, base + "/jobs/overview")).path("jobs")) {
          if (j.path("start-time").asLong() >= sinceMs - 1000 && "RUNNING".equals(j.path("state").asText())) {
            jobId = j.path("jid").asText();
          }
        }
        if (jobId != null) {
          Map<String, Long> calls = new TreeMap<>();
          for (JsonNode v : json.readTree(get(http, base + "/jobs/" + jobId)).path("vertices")) {
            String vertex = base + "/jobs/" + jobId + "/vertices/" + v.path("id").asText();
            List<String> ids = new ArrayList<>();
            for (JsonNode m : json.readTree(get(http, vertex + "/metrics"))) {
              String id = m.path("id").asText();
              if (MODELS.stream().anyMatch(model -> id.endsWith("calls/" + model))
                  && !id.endsWith("coordination_calls")) {
                ids.add(id);
              }
            }
            if (ids.isEmpty()) {
              continue;
            }
            String query = URLEncoder.encode(String.join(",", ids), StandardCharsets.UTF_8);
            for (JsonNode m : json.readTree(get(http, vertex + "/metrics?get=" + query))) {
              String id = m.path("id").asText();
              String model = id.substring(id.lastIndexOf("calls/") + "calls/".length());
              char before = id.charAt(id.lastIndexOf("calls/") - 1);
              if (before == '.' || before == '_') { // "calls/<model>", not another counter ending so
                calls.merge(model, (long) Double.parseDouble(m.path("value").asText("0")), Long::sum);
              }
            }
          }
          boolean shards = shardsWritten(out);
          last = "job " + jobId + " counters " + calls + ", shards written: " + shards;
          if (shards) {
            return "too late: " + last;
          }
          if (calls.keySet().containsAll(MODELS) && calls.values().stream().allMatch(n -> n > 0)) {
            long most = calls.values().stream().mapToLong(Long::longValue).max().orElse(0);
            return (most < prompts ? "seen " : "too late (every call done): ") + last;
          }
        }
      } catch (IOException | RuntimeException e) {
        last = "REST API not readable: " + e;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return "interrupted";
      }
      try {
        Thread.sleep(150);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return "interrupted";
      }
    }
    return "never seen while the job ran: " + last;
  }

  private static String get(HttpClient http, String url) throws IOException, InterruptedException {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).build(),
        HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) {
      throw new IOException("HTTP " + r.statusCode() + " from " + url);
    }
    return r.body();
  }

  /** Whether a Parquet shard of the SFT rows exists yet (temporary files of the sink not counted). */
  private static boolean shardsWritten(Path out) throws IOException {
    Path shards = out.resolve("sft/parquet");
    if (!Files.isDirectory(shards)) {
      return false;
    }
    try (var files = Files.list(shards)) {
      return files.anyMatch(f -> Files.isRegularFile(f) && f.getFileName().toString().endsWith(".parquet"));
    }
  }

  private static Map<String, Integer> held(Coordinator c, Map<String, String> inStore) {
    Map<String, Integer> held = new LinkedHashMap<>();
    inStore.forEach((name, id) -> held.put(name, c.slotsInUse(id)));
    return held;
  }

  /** Established TCP connections of process {@code pid} to {@code port} on this machine (Linux /proc). */
  private static int connectionsTo(long pid, int port) {
    try {
      Set<String> inodes = new HashSet<>();
      try (var fds = Files.list(Paths.get("/proc", String.valueOf(pid), "fd"))) {
        for (Path fd : fds.toList()) {
          try {
            String target = Files.readSymbolicLink(fd).toString();
            if (target.startsWith("socket:[")) {
              inodes.add(target.substring(8, target.length() - 1));
            }
          } catch (IOException gone) {
            // closed meanwhile
          }
        }
      }
      String remotePort = String.format(Locale.ROOT, ":%04X", port);
      int n = 0;
      for (String table : List.of("tcp", "tcp6")) {
        for (String line : Files.readAllLines(Paths.get("/proc", String.valueOf(pid), "net", table))) {
          String[] f = line.trim().split("\\s+");
          if (f.length > 9 && f[2].endsWith(remotePort) && f[3].equals("01") && inodes.contains(f[9])) {
            n++;
          }
        }
      }
      return n;
    } catch (IOException e) {
      return -1;
    }
  }

  private static Map<String, Integer> peaks(SimulatedEndpoint sim) {
    Map<String, Integer> peaks = new TreeMap<>();
    sim.modelNames().forEach(m -> peaks.put(m, sim.peakInFlight(m)));
    return peaks;
  }

  /** Every id is written once, or (when {@code dead} is positive) written once or dead-lettered once. */
  private static void assertEveryIdOnce(Path out, Set<String> ids, long dead) throws IOException {
    List<GenericRecord> rows = Fixtures.readParquet(out.resolve("sft/parquet"));
    Map<String, Integer> copies = new TreeMap<>();
    rows.forEach(r -> copies.merge(r.get("id").toString(), 1, Integer::sum));
    List<String> deadIds = new ArrayList<>();
    if (dead > 0) {
      Fixtures.readJsonLines(out.resolve("dead-letters")).forEach(d -> deadIds.add(d.path("conversation_id").asText()));
      deadIds.forEach(id -> copies.merge(id, 1, Integer::sum));
    }
    Map<String, Integer> duplicated = new TreeMap<>(copies);
    duplicated.values().removeIf(n -> n == 1);
    Set<String> missing = new HashSet<>(ids);
    missing.removeAll(copies.keySet());
    assertEquals(Map.of(), duplicated, "ids written (or dead-lettered) more than once");
    assertEquals(Set.of(), missing, "ids never written");
    assertEquals(ids.size() - dead, rows.size(), "rows written");
    assertEquals(dead, deadIds.size(), "dead letters");
  }

  private SimulatedEndpoint sim(SimulatedEndpoint.Settings settings) {
    SimulatedEndpoint sim = SimulatedEndpoint.start(settings);
    sims.add(sim);
    return sim;
  }

  private Path writeConfig(Path dir, SimulatedEndpoint sim, String key, String coordinationExtra) throws IOException {
    Path config = dir.resolve("moaa.yaml");
    Files.createDirectories(dir);
    Files.writeString(config, Fixtures.config(sim.baseUrl(), 2, 1, 2, "  adaptive_concurrency: false\n")
        + "cache: {backend: none}\n"
        + "coordination: {backend: redis, url: \"" + redis.url() + "\", key: " + key + coordinationExtra + "}\n",
        StandardCharsets.UTF_8);
    return config;
  }

  private Process submit(Path config, Path input, Path output, Path log, String... flags) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(Paths.get(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx512m", "-jar", JAR.toString(), "sft", "--config=" + config, "--input=" + input, "--output=" + output,
        "--runner=FlinkRunner", "--flinkMaster=" + cluster.restAddress(), "--parallelism=4", "--preflight=false"));
    cmd.addAll(List.of(flags));
    Files.createDirectories(log.getParent());
    return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
  }

  private static int await(Process p, Path log) throws InterruptedException {
    if (!p.waitFor(RUN_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail("the Flink submission did not finish within " + RUN_TIMEOUT + "\n" + log(log));
    }
    return p.exitValue();
  }

  private static String log(Path log) {
    try {
      return "client log " + log + ":\n" + Files.readString(log, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }

  private static Set<String> writePrompts(Path file, int n) throws IOException {
    Files.createDirectories(file.getParent());
    Set<String> ids = new HashSet<>();
    try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
      for (int i = 0; i < n; i++) {
        String id = String.format(Locale.ROOT, "rec-%04d", i);
        ids.add(id);
        w.write("{\"id\":\"" + id + "\",\"prompt\":\"Prompt " + i + ": why do leases expire when a worker dies?\"}\n");
      }
    }
    return ids;
  }
}

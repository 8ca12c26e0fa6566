package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.launch.LocalRedis;
import dev.moaa.runners.sim.RecordedRequest;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Never pay twice: the simulated endpoint counts every request it receives, so each claim below is
 * checked against what was actually sent, with the embedded SQLite cache and with a real
 * {@code redis-server} shared by several pipeline processes.
 */
class ResumeEndToEndTest {
  private static final int ROWS = 60;
  private static final int CALLS = ROWS * 4; // three proposers and the aggregator, one turn
  private static LocalRedis redis;

  @BeforeAll
  static void startRedis() throws Exception {
    redis = LocalRedis.start();
  }

  @AfterAll
  static void stopRedis() {
    if (redis != null) {
      redis.close();
    }
  }

  private static String cacheFor(String backend, Path work) throws Exception {
    if (backend.equals("redis")) {
      // A fresh database per test: Redis has 16; flushing keeps tests apart.
      try (redis.clients.jedis.Jedis j = new redis.clients.jedis.Jedis("127.0.0.1", redis.port())) {
        j.flushAll();
      }
      return CacheRuns.redis(redis.url());
    }
    return CacheRuns.sqlite(work.resolve("cache/responses.sqlite"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"sqlite", "redis"})
  void aSecondRunOfTheSameConfigSendsNoRequest_andAChangedAggregatorPaysOnlyForItself(String backend) throws Exception {
    Path work = Fixtures.workDir("cache-rerun-" + backend);
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(5))) {
      Path input = CacheRuns.prompts(work.resolve("in"), "rerun", ROWS);
      String yaml = CacheRuns.config(sim, cacheFor(backend, work), "");
      Files.writeString(work.resolve("config.yaml"), yaml);
      Fixtures.Run first = Fixtures.moaa("sft", "--config=" + work.resolve("config.yaml"), "--input=" + input,
          "--output=" + work.resolve("first"));
      assertEquals(0, first.code(), first.err());
      assertEquals(CALLS, sim.requestCount(), "a clean run pays for every call once");

      Fixtures.Run second = Fixtures.moaa("sft", "--config=" + work.resolve("config.yaml"), "--input=" + input,
          "--output=" + work.resolve("second"));
      assertEquals(0, second.code(), second.err());
      assertEquals(CALLS, sim.requestCount(), "the second run sent no request");
      JsonNode totals = Fixtures.manifest(work.resolve("second")).path("totals");
      assertEquals(CALLS, totals.path("cache_hits").asLong());
      assertEquals(0, totals.path("paid_calls").asLong());
      assertEquals(0.0, totals.path("estimated_cost_usd").asDouble());
      Map<String, String> rows = CacheRuns.rows(work.resolve("first"));
      assertEquals(ROWS, rows.size());
      assertEquals(rows, CacheRuns.rows(work.resolve("second")), "the same rows");

      Files.writeString(work.resolve("config-agg2.yaml"),
          yaml.replace("agg: {model: sim-aggregator}", "agg: {model: sim-aggregator-v2}"));
      long before = sim.requestCount();
      Fixtures.Run third = Fixtures.moaa("sft", "--config=" + work.resolve("config-agg2.yaml"), "--input=" + input,
          "--output=" + work.resolve("third"));
      assertEquals(0, third.code(), third.err());
      Set<String> models = sim.requests().stream().skip(before).map(RecordedRequest::model).collect(Collectors.toSet());
      assertEquals(ROWS, sim.requestCount() - before, "one new call per row");
      assertEquals(Set.of("sim-aggregator-v2"), models, "only the new aggregator was called");
      assertEquals(ROWS, CacheRuns.rows(work.resolve("third")).size());
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"sqlite", "redis"})
  void aRunKilledHalfwayAndStartedAgainPaysOnlyForCallsThatHadNotFinished(String backend) throws Exception {
    Path work = Fixtures.workDir("cache-kill-" + backend);
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(150))) {
      Path input = CacheRuns.prompts(work.resolve("in"), "kill", ROWS);
      Files.writeString(work.resolve("config.yaml"), CacheRuns.config(sim, cacheFor(backend, work), "  max_concurrency: 6\n")
          .replace("  max_concurrency: 16\n", ""));
      Path out = work.resolve("out");
      Process first = CacheRuns.start(work.resolve("config.yaml"), input, out, work.resolve("first.log"));
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
      while (sim.requestCount() < CALLS / 2 && first.isAlive() && System.nanoTime() < deadline) {
        Thread.sleep(5);
      }
      long killedAt = System.nanoTime();
      first.destroyForcibly(); // SIGKILL: no shutdown hook, no flush
      assertTrue(first.waitFor(30, TimeUnit.SECONDS));
      long paidBeforeKill = sim.requestCount();
      // In flight at the kill: requests the endpoint is still working on, plus those it answered
      // from 50 ms before the kill on (answers on their way to a process that could not store them).
      long since = killedAt - TimeUnit.MILLISECONDS.toNanos(50);
      long inFlight = inFlightOfAll(sim) + sim.requests().stream().filter(r -> r.answeredAtNanos() > since).count();
      assertTrue(paidBeforeKill >= CALLS / 3 && paidBeforeKill < CALLS,
          "killed partway: " + paidBeforeKill + " of " + CALLS + " calls made");

      Process second = CacheRuns.start(work.resolve("config.yaml"), input, out, work.resolve("second.log"));
      int code = CacheRuns.await(second, work.resolve("second.log"));
      String log = Files.readString(work.resolve("second.log"));
      assertEquals(0, code, log);
      assertTrue(log.contains("resuming the unfinished run"), log);
      long total = sim.requestCount();
      System.out.printf("kill test (%s): %d calls before the kill, %d in flight at it, %d after; clean run %d%n",
          backend, paidBeforeKill, inFlight, total - paidBeforeKill, CALLS);
      assertTrue(total <= CALLS + inFlight, "calls across both runs: " + total + " > " + CALLS + " + " + inFlight);
      Map<String, String> rows = CacheRuns.rows(out);
      assertEquals(ROWS, rows.size(), "every row, once");
      Fixtures.assertReconciles(Fixtures.manifest(out), ROWS, ROWS, 0, 0);
    }
  }

  private static long inFlightOfAll(SimulatedEndpoint sim) {
    long n = 0;
    for (String m : Set.of("sim-proposer-1", "sim-proposer-2", "sim-proposer-3", "sim-aggregator")) {
      n += sim.inFlight(m);
    }
    return n;
  }

  @Test
  void pipelineProcessesSharingOneRedisPayForEachCallOnce_atTheSameTimeAndAfterwards() throws Exception {
    Path work = Fixtures.workDir("cache-two-processes");
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(100))) {
      Path input = CacheRuns.prompts(work.resolve("in"), "pair", ROWS);
      Files.writeString(work.resolve("config.yaml"), CacheRuns.config(sim, cacheFor("redis", work), ""));
      Process a = CacheRuns.start(work.resolve("config.yaml"), input, work.resolve("a"), work.resolve("a.log"));
      Process b = CacheRuns.start(work.resolve("config.yaml"), input, work.resolve("b"), work.resolve("b.log"));
      assertEquals(0, CacheRuns.await(a, work.resolve("a.log")));
      assertEquals(0, CacheRuns.await(b, work.resolve("b.log")));
      long paidA = Fixtures.manifest(work.resolve("a")).path("totals").path("paid_calls").asLong();
      long paidB = Fixtures.manifest(work.resolve("b")).path("totals").path("paid_calls").asLong();
      System.out.printf("two processes on one Redis: %d requests (a paid %d, b paid %d) for %d distinct calls%n",
          sim.requestCount(), paidA, paidB, CALLS);
      assertEquals(CALLS, sim.requestCount(), "each distinct call was sent once across both processes");
      assertEquals(CALLS, paidA + paidB);
      Map<String, String> rows = CacheRuns.rows(work.resolve("a"));
      assertEquals(ROWS, rows.size());
      assertEquals(rows, CacheRuns.rows(work.resolve("b")), "both processes wrote the same rows");

      // A third process on the same Redis, later: everything is already paid for.
      Process c = CacheRuns.start(work.resolve("config.yaml"), input, work.resolve("c"), work.resolve("c.log"));
      assertEquals(0, CacheRuns.await(c, work.resolve("c.log")));
      assertEquals(CALLS, sim.requestCount(), "the third process sent no request");
      assertEquals(rows, CacheRuns.rows(work.resolve("c")));
    }
  }
}

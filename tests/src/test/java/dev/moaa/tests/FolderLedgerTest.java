package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The output folder owns its money: every request any launch sent is in the folder's call ledger,
 * the manifest's paid figures are the ledger's, the budget counts what the folder spent before,
 * and one run at a time writes a folder. The simulated endpoint's own counts are the judge.
 */
class FolderLedgerTest {
  /** Fixtures.config's price: $1 per million prompt tokens, $2 per million completion tokens. */
  private static double billedUsd(SimulatedEndpoint sim) {
    return (sim.billedPromptTokens() * 1.0 + sim.billedCompletionTokens() * 2.0) / 1e6;
  }

  @Test
  void theManifestsPaidRequestsTokensAndCost_areTheLedgers_andEqualWhatTheEndpointBilled() throws Exception {
    Path work = Fixtures.workDir("ledger");
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(10)
        .withRate5xx(0.1))) {
      Path input = CacheRuns.prompts(work.resolve("in"), "ledger", 40);
      Files.writeString(work.resolve("c.yaml"), CacheRuns.config(sim, "cache: {backend: none}\n", ""));
      Fixtures.Run run = Fixtures.moaa("sft", "--config=" + work.resolve("c.yaml"), "--input=" + input,
          "--output=" + work.resolve("out"), "--preflight=true");
      assertEquals(0, run.code(), run.err());
      JsonNode m = Fixtures.manifest(work.resolve("out"));
      JsonNode totals = m.path("totals");
      System.out.printf(Locale.ROOT, "ledger: manifest %s; endpoint received %d, billed %d + %d tokens ($%.6f)%n",
          m.path("ledger"), sim.requestCount(), sim.billedPromptTokens(), sim.billedCompletionTokens(), billedUsd(sim));
      assertEquals("ledger", totals.path("usage_source").asText(), totals.toString());
      assertEquals(sim.requestCount(), totals.path("paid_calls").asLong(), "retries of 5xx and the probes included");
      assertTrue(sim.requestCount() > 40 * 4 + 4, "the 5xx answers were retried: " + sim.requestCount());
      assertEquals(sim.billedPromptTokens(), totals.path("prompt_tokens").asLong());
      assertEquals(sim.billedCompletionTokens(), totals.path("completion_tokens").asLong());
      assertEquals(billedUsd(sim), totals.path("estimated_cost_usd").asDouble(), 1e-5);
      assertEquals(0, m.path("ledger").path("this_launch").path("in_doubt").asLong());
      Map<String, String> ids = Map.of("p1", "sim-proposer-1", "p2", "sim-proposer-2", "p3", "sim-proposer-3",
          "agg", "sim-aggregator");
      ids.forEach((model, id) -> assertEquals(sim.requestCount(id) - 1,
          m.path("models").path(model).path("paid_calls").asLong(),
          model + ": its calls' requests (its probe is counted in the totals)"));
      assertFalse(Files.exists(work.resolve("out/_lease.json")), "the lease is given back at the end");
    }
  }

  @Test
  void aBudgetStop_thenTheSameCommandSendsNothing_andARaiseOfXSpendsAtMostXMore() throws Exception {
    int rows = 60;
    Path work = Fixtures.workDir("folder-budget");
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(10))) {
      Path input = CacheRuns.prompts(work.resolve("in"), "folder-budget", rows);
      String base = CacheRuns.config(sim, "", "  max_concurrency: 2\n").replace("  max_concurrency: 16\n", "");
      Files.writeString(work.resolve("clean.yaml"), base + "cache: {backend: none}\n");
      Fixtures.Run clean = Fixtures.moaa("sft", "--config=" + work.resolve("clean.yaml"), "--input=" + input,
          "--output=" + work.resolve("clean"));
      assertEquals(0, clean.code(), clean.err());
      double full = billedUsd(sim);
      sim.reset();

      String cache = CacheRuns.sqlite(work.resolve("cache/responses.sqlite"));
      double third = full / 3;
      Path limited = work.resolve("third.yaml");
      Files.writeString(limited, base + cache + String.format(Locale.ROOT, "budget: {max_cost_usd: %.8f}%n", third));
      Path out = work.resolve("out");
      Fixtures.Run first = Fixtures.moaa("sft", "--config=" + limited, "--input=" + input, "--output=" + out);
      assertEquals(3, first.code(), first.err());
      double spentFirst = billedUsd(sim);
      long sentFirst = sim.requestCount();
      assertTrue(spentFirst <= third, "the endpoint billed $" + spentFirst + " > the budget $" + third);

      // the same command again: the budget is the folder's, and it is spent
      Fixtures.Run again = Fixtures.moaa("sft", "--config=" + limited, "--input=" + input, "--output=" + out,
          "--preflight=true");
      System.out.println(again.out());
      assertEquals(3, again.code(), again.err());
      assertEquals(sentFirst, sim.requestCount(), "the same command sent no request, not even a probe");
      assertTrue(again.out().contains("nothing will be sent"), again.out());
      assertTrue(again.out().contains("preflight skipped"), again.out());

      // raised by X: at most X more, as the endpoint bills it
      double x = full / 4;
      Path raised = work.resolve("raised.yaml");
      Files.writeString(raised, base + cache + String.format(Locale.ROOT, "budget: {max_cost_usd: %.8f}%n", third + x));
      Fixtures.Run more = Fixtures.moaa("sft", "--config=" + raised, "--input=" + input, "--output=" + out);
      assertTrue(more.code() == 3 || more.code() == 0, more.err());
      double spentMore = billedUsd(sim) - spentFirst;
      System.out.printf(Locale.ROOT, "folder budget: full run $%.6f; first launch spent $%.6f of $%.6f in %d"
          + " requests; the same command sent %d; raised by $%.6f: spent $%.6f more in %d requests%n", full,
          spentFirst, third, sentFirst, 0, x, spentMore, sim.requestCount() - sentFirst);
      assertTrue(spentMore > 0, "the raise let calls go out");
      assertTrue(spentMore <= x + 1e-9, "spent $" + spentMore + " more, raised by $" + x);
      JsonNode m = Fixtures.manifest(out);
      assertEquals(billedUsd(sim), m.path("ledger").path("folder").path("cost_usd").asDouble(), 1e-5,
          "the folder's ledger holds what the endpoint billed over every launch: " + m.path("ledger"));
      assertEquals(spentFirst, m.path("ledger").path("spent_before_this_launch_usd").asDouble(), 1e-5);
    }
  }

  @Test
  void twoRunsIntoOneFolderAtOnce_theSecondExits2NamingTheFirst_andEveryIdIsWrittenOnce() throws Exception {
    Path work = Fixtures.workDir("one-run-per-folder");
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(300))) {
      int rows = 40;
      Path input = CacheRuns.prompts(work.resolve("in"), "one-run", rows);
      Path config = work.resolve("c.yaml");
      // two calls of a model at a time: the first run lasts well beyond the second's start
      Files.writeString(config, CacheRuns.config(sim, CacheRuns.sqlite(work.resolve("cache.sqlite")),
          "  max_concurrency: 2\n").replace("  max_concurrency: 16\n", ""));
      Path out = work.resolve("out");
      Process first = CacheRuns.start(config, input, out, work.resolve("first.log"));
      long t0 = System.nanoTime();
      while (!Files.exists(out.resolve("_lease.json")) || sim.requestCount() == 0) {
        if (!first.isAlive() || System.nanoTime() - t0 > TimeUnit.MINUTES.toNanos(2)) {
          fail("the first run did not start calling: " + Files.readString(work.resolve("first.log")));
        }
        Thread.sleep(50);
      }
      Fixtures.Run second = Fixtures.moaa("sft", "--config=" + config, "--input=" + input, "--output=" + out);
      System.out.println("second run: " + second.out() + second.err());
      assertEquals(2, second.code(), second.out() + second.err());
      assertTrue(second.err().contains("is being written by another run"), second.err());
      assertTrue(second.err().contains("process " + first.pid()), "names the holder: " + second.err());
      assertEquals(0, CacheRuns.await(first, work.resolve("first.log")));
      Map<String, String> written = CacheRuns.rows(out);
      assertEquals(rows, written.size(), "every id once");
      assertEquals(rows * 4L, sim.requestCount(), "the second run sent nothing");
    }
  }

  /**
   * A Redis that holds the cache and the coordination dies in the middle of a run (SIGKILL): the
   * run ends honestly (exit 4, {@code complete: false}, the rows it could not process dead letters
   * with reason {@code coordination_unavailable}); once Redis is back with its data, the same
   * command finishes the folder with exit 0, and over both launches every call was paid once.
   */
  @Test
  void redisKilledMidRun_endsWithExit4Incomplete_andTheSameCommandAfterwardsFinishesPayingOnlyWhatWasNotAnswered()
      throws Exception {
    Path work = Fixtures.workDir("redis-killed");
    int rows = 60;
    int calls = rows * 4;
    int port;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    Path data = work.resolve("redis-data");
    dev.moaa.runners.launch.LocalRedis redis = dev.moaa.runners.launch.LocalRedis.startPersistent(data, port);
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(200))) {
      Path input = CacheRuns.prompts(work.resolve("in"), "redis-killed", rows);
      Path config = work.resolve("c.yaml");
      Files.writeString(config, CacheRuns.config(sim, CacheRuns.redis(redis.url())
          + "coordination: {backend: redis, url: \"" + redis.url() + "\", key: killed-" + System.nanoTime()
          + ", lease_ttl_ms: 2000}\n", "  max_concurrency: 4\n").replace("  max_concurrency: 16\n", ""));
      Path out = work.resolve("out");
      Process first = CacheRuns.start(config, input, out, work.resolve("first.log"));
      long t0 = System.nanoTime();
      while (sim.requestCount() < calls / 3) {
        if (!first.isAlive() || System.nanoTime() - t0 > TimeUnit.MINUTES.toNanos(2)) {
          fail("the run did not get a third of the way: " + Files.readString(work.resolve("first.log")));
        }
        Thread.sleep(20);
      }
      int inFlight = sim.modelNames().stream().mapToInt(sim::inFlight).sum();
      redis.kill();
      long atKill = sim.requestCount();
      int code = CacheRuns.await(first, work.resolve("first.log"));
      JsonNode m = Fixtures.manifest(out);
      long firstSent = sim.requestCount();
      System.out.printf(Locale.ROOT, "redis killed after %d requests (%d in flight): exit %d, %d requests in all,"
          + " dead letters %s, cache_store_failures %d%n", atKill, inFlight, code, firstSent,
          m.path("counts").path("dead_letter_reasons"), m.path("cache_store_failures").asLong());
      assertEquals(4, code, "a run that could not process rows for want of its store is not done");
      assertFalse(m.path("complete").asBoolean(true), m.toString());
      assertTrue(m.path("counts").path("dead_letter_reasons").path("coordination_unavailable").asLong() > 0,
          m.path("counts").toString());
      assertTrue(m.path("counts").path("reconciled").asBoolean(), m.path("counts").toString());

      redis = dev.moaa.runners.launch.LocalRedis.startPersistent(data, port);
      Fixtures.Run again = Fixtures.moaa("sft", "--config=" + config, "--input=" + input, "--output=" + out);
      System.out.println(again.out());
      assertEquals(0, again.code(), again.out() + again.err());
      assertTrue(again.out().contains("resuming the unfinished run"), again.out());
      Fixtures.assertReconciles(Fixtures.manifest(out), rows, rows, 0, 0);
      assertEquals(rows, CacheRuns.rows(out).size());
      System.out.printf(Locale.ROOT, "redis back: the same command sent %d more; %d in all, a clean run makes %d%n",
          sim.requestCount() - firstSent, sim.requestCount(), calls);
      assertEquals(calls, sim.requestCount(), "every call paid once over both launches");
    } finally {
      redis.close();
    }
  }

  /**
   * A cluster run with the default SQLite cache whose TaskManagers report another host: a restarted
   * task there would pay again, so the run stops with exit 2 before any request. (A stand-in for the
   * cluster's REST API says where the TaskManagers are; nothing is sent to that host.)
   */
  @Test
  void aClusterRunWithTheSqliteCacheAndATaskManagerOnAnotherHost_exits2BeforeAnyRequest() throws Exception {
    Path work = Fixtures.workDir("sqlite-elsewhere");
    com.sun.net.httpserver.HttpServer rest = com.sun.net.httpserver.HttpServer.create(
        new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), 0), 0);
    byte[] answer = ("{\"taskmanagers\":[{\"id\":\"a\",\"path\":\"pekko.tcp://flink@127.0.0.1:40001/user/rpc/"
        + "taskmanager_0\"},{\"id\":\"b\",\"path\":\"pekko.tcp://flink@10.77.0.12:40002/user/rpc/taskmanager_0\"}]}")
        .getBytes(java.nio.charset.StandardCharsets.UTF_8);
    java.util.concurrent.atomic.AtomicInteger asked = new java.util.concurrent.atomic.AtomicInteger();
    rest.createContext("/", x -> {
      asked.incrementAndGet();
      boolean tms = x.getRequestURI().getPath().equals("/taskmanagers");
      byte[] body = tms ? answer : "{}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
      x.sendResponseHeaders(tms ? 200 : 404, body.length);
      x.getResponseBody().write(body);
      x.close();
    });
    rest.start();
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults())) {
      Path input = CacheRuns.prompts(work.resolve("in"), "elsewhere", 5);
      Path config = work.resolve("c.yaml");
      Files.writeString(config, CacheRuns.config(sim, CacheRuns.sqlite(work.resolve("cache.sqlite")), ""));
      Fixtures.Run run = Fixtures.moaa("sft", "--config=" + config, "--input=" + input,
          "--output=" + work.resolve("out"), "--runner=FlinkRunner",
          "--flinkMaster=127.0.0.1:" + rest.getAddress().getPort(), "--preflight=true");
      System.out.println("sqlite elsewhere: " + run.err());
      assertEquals(2, run.code(), run.out() + run.err());
      assertTrue(run.err().contains("10.77.0.12") && run.err().contains("backend: redis")
          && run.err().contains("backend: none"), run.err());
      assertEquals(0, sim.requestCount(), "nothing was sent, not even a probe");
      assertTrue(asked.get() > 0, "the cluster's REST API was asked");
    } finally {
      rest.stop(0);
    }
  }
}

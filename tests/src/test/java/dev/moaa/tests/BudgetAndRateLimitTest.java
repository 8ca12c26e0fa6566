package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.sim.RecordedRequest;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/** Spending limits and request limits, checked against what the simulated endpoint received. */
class BudgetAndRateLimitTest {

  @Test
  void aBudgetOfOneThirdStopsAtOrBelowIt_andARerunWithMoreBudgetFinishesWithoutPayingTwice() throws Exception {
    int rows = 60;
    int calls = rows * 4;
    Path work = Fixtures.workDir("budget");
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(20))) {
      Path input = CacheRuns.prompts(work.resolve("in"), "budget", rows);
      String base = CacheRuns.config(sim, "", "  max_concurrency: 2\n").replace("  max_concurrency: 16\n", "");

      // What the whole run costs, measured by a clean run without a cache.
      Files.writeString(work.resolve("clean.yaml"), base + "cache: {backend: none}\n");
      Fixtures.Run clean = Fixtures.moaa("sft", "--config=" + work.resolve("clean.yaml"), "--input=" + input,
          "--output=" + work.resolve("clean"));
      assertEquals(0, clean.code(), clean.err());
      assertEquals(calls, sim.requestCount());
      double fullCost = Fixtures.manifest(work.resolve("clean")).path("totals").path("estimated_cost_usd").asDouble();
      assertTrue(fullCost > 0);
      sim.reset();

      double limit = fullCost / 3;
      String cache = CacheRuns.sqlite(work.resolve("cache/responses.sqlite"));
      Files.writeString(work.resolve("third.yaml"), base + cache
          + String.format(Locale.ROOT, "budget: {max_cost_usd: %.8f}%n", limit));
      Path out = work.resolve("out");
      Fixtures.Run stopped = Fixtures.moaa("sft", "--config=" + work.resolve("third.yaml"), "--input=" + input,
          "--output=" + out);
      assertEquals(3, stopped.code(), "exit 3: done, but the budget left rows for later. " + stopped.err());
      JsonNode m = Fixtures.manifest(out);
      double spent = m.path("totals").path("estimated_cost_usd").asDouble();
      long paidFirst = sim.requestCount();
      long written = m.path("counts").path("written").asLong();
      long budgetDead = m.path("counts").path("dead_letter_reasons").path("budget").asLong();
      System.out.printf(Locale.ROOT, "budget: full run $%.6f, limit $%.6f, spent $%.6f in %d calls; %d rows written,"
          + " %d left with reason budget%n", fullCost, limit, spent, paidFirst, written, budgetDead);
      assertTrue(spent <= limit, "spent " + spent + " > limit " + limit);
      assertTrue(budgetDead > 0, "rows were left for later");
      assertEquals(rows, written + budgetDead, "nothing else was lost");
      assertTrue(stopped.out().contains("dead letters with reason 'budget'"), stopped.out());
      assertTrue(stopped.out().contains("MoAA SFT STOPPED BY THE BUDGET in"), stopped.out());
      assertFalse(stopped.out().contains("DONE"), "a budget stop never says DONE: " + stopped.out());
      assertEquals(paidFirst, m.path("totals").path("paid_calls").asLong(),
          "paid_calls counts the requests the endpoint received, not the calls the budget refused");
      assertTrue(m.path("models").path("p1").path("budget_refused").asLong() > 0
          || m.path("models").path("agg").path("budget_refused").asLong() > 0, "refusals are counted apart");
      List<JsonNode> dead = Fixtures.readJsonLines(out.resolve("dead-letters"));
      assertEquals(budgetDead, dead.stream().filter(d -> d.path("reason").asText().equals("budget")).count());

      Files.writeString(work.resolve("full.yaml"), base + cache
          + String.format(Locale.ROOT, "budget: {max_cost_usd: %.8f}%n", fullCost * 10));
      Fixtures.Run finished = Fixtures.moaa("sft", "--config=" + work.resolve("full.yaml"), "--input=" + input,
          "--output=" + out);
      assertEquals(0, finished.code(), finished.err());
      assertTrue(finished.out().contains("resuming the budget-stopped run"), finished.out());
      Fixtures.assertReconciles(Fixtures.manifest(out), rows, rows, 0, 0);
      assertEquals(calls, sim.requestCount(), "the two runs together sent each call once: " + paidFirst
          + " in the first, " + (sim.requestCount() - paidFirst) + " in the second");
      JsonNode totals = Fixtures.manifest(out).path("totals");
      assertEquals(paidFirst, totals.path("cache_hits").asLong() + 0L, "the first run's answers came from the cache");
    }
  }

  @Test
  void anEndpointCappedAt8WhileTheConfigAllows64_adaptiveConcurrencyKeeps429sRareAndLosesNoRow() throws Exception {
    int rows = 160;
    long latency = 200;
    Path work = Fixtures.workDir("rate-limit");
    Path input = CacheRuns.prompts(work.resolve("in"), "rate", rows);
    // The reference: the same run configured with exactly the endpoint's cap, so it never sees a 429.
    Phase known = callPhase(work, input, "known-cap", rows, latency, "  max_concurrency: 8\n  adaptive_concurrency: false\n");
    Phase adaptive = callPhase(work, input, "adaptive", rows, latency, "  max_concurrency: 64\n");
    double ideal = rows * (latency / 1000.0) / 8;
    System.out.printf(Locale.ROOT, "rate limit: %d requests, %d answered 429 (%.1f%%); proposer stage %.2f s vs ideal"
        + " %.2f s for cap 8 (%.2fx); all calls %.2f s vs %.2f s with the cap configured exactly (%.2fx)%n",
        adaptive.requests, adaptive.limited, 100.0 * adaptive.limited / adaptive.requests, adaptive.proposerSpan, ideal,
        adaptive.proposerSpan / ideal, adaptive.allSpan, known.allSpan, adaptive.allSpan / known.allSpan);
    assertEquals(0, known.limited, "the reference run stays under the cap");
    assertTrue(adaptive.limited < 0.10 * adaptive.requests, "429s are a small share of requests");
    assertTrue(adaptive.proposerSpan <= 1.5 * ideal, "proposer stage within 1.5x of the ideal for cap 8");
    assertTrue(adaptive.allSpan <= 1.5 * known.allSpan, "within 1.5x of the run that knew the cap");
  }

  /** What one run's calls looked like from the endpoint. */
  private record Phase(long requests, long limited, double proposerSpan, double allSpan) {}

  private static Phase callPhase(Path work, Path input, String name, int rows, long latency, String limits) throws Exception {
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults()
        .withLatencyMs(latency).withMaxInFlightPerModel(8))) {
      String yaml = Fixtures.config(sim.baseUrl(), 2, 1, 2, limits).replace("  max_concurrency: 16\n", "")
          .replace("retry: {max_attempts: 4, initial_backoff_ms: 10, max_backoff_ms: 100}",
              "retry: {max_attempts: 8, initial_backoff_ms: 20, max_backoff_ms: 400}")
          + "cache: {backend: none}\n";
      Files.writeString(work.resolve(name + ".yaml"), yaml);
      Fixtures.Run run = Fixtures.moaa("sft", "--config=" + work.resolve(name + ".yaml"), "--input=" + input,
          "--output=" + work.resolve(name));
      assertEquals(0, run.code(), run.err());
      Fixtures.assertReconciles(Fixtures.manifest(work.resolve(name)), rows, rows, 0, 0);
      // The proposer stage has all its work from the start, so its span shows what the gate achieves.
      return new Phase(sim.requestCount(), sim.count429(), span(sim, List.of("sim-proposer-1"), latency),
          span(sim, List.of("sim-proposer-1", "sim-proposer-2", "sim-aggregator"), latency));
    }
  }

  /** Seconds from the first request of {@code models} to its last answer. */
  private static double span(SimulatedEndpoint sim, List<String> models, long latency) {
    long first = Long.MAX_VALUE;
    long last = Long.MIN_VALUE;
    for (String m : models) {
      for (RecordedRequest r : CacheRuns.answered(sim, m)) {
        first = Math.min(first, r.answeredAtNanos());
        last = Math.max(last, r.answeredAtNanos());
      }
    }
    return (last - first) / 1e9 + latency / 1000.0;
  }
}

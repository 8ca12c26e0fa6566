package dev.moaa.runners.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each workload through {@code moaa bench} at a tiny size (20 prompts, 5 ms): the figures are
 * printed and written, and every model received exactly the calls the plan expects. No timing is
 * asserted: these machines are shared.
 */
class BenchCommandTest {

  @TempDir Path dir;

  private JsonNode bench(String workload, String... extra) throws Exception {
    Path out = dir.resolve(workload);
    String[] args = new String[4 + extra.length];
    args[0] = "--workload=" + workload;
    args[1] = "--prompts=20";
    args[2] = "--latency-ms=5";
    args[3] = "--output=" + out;
    System.arraycopy(extra, 0, args, 4, extra.length);
    ByteArrayOutputStream text = new ByteArrayOutputStream();
    ByteArrayOutputStream errors = new ByteArrayOutputStream();
    int code = BenchCommand.run(args, new PrintStream(text, true, StandardCharsets.UTF_8),
        new PrintStream(errors, true, StandardCharsets.UTF_8));
    String printed = text.toString(StandardCharsets.UTF_8);
    assertEquals(0, code, printed + errors.toString(StandardCharsets.UTF_8));
    assertTrue(printed.contains("moaa bench " + workload + " (SIMULATED endpoint)"), printed);
    assertTrue(printed.contains("process (pipeline + simulator): CPU"), printed);
    JsonNode report = new ObjectMapper().readTree(Files.readString(out.resolve("bench.json")));
    assertEquals(workload, report.get("workload").asText());
    assertEquals(20, report.get("records").get("read").asLong());
    assertEquals(20, report.get("records").get("written").asLong(), "no row lost or dead-lettered");
    assertTrue(report.get("wall_s").asDouble() > 0);
    assertTrue(report.get("process").get("cpu_s").asDouble() > 0);
    assertTrue(report.get("process").get("peak_heap_mb").asLong() > 0);
    assertTrue(Files.readString(out.resolve("bench-config.yaml")).contains("cache: {backend: none}"));
    return report;
  }

  private static void assertCalls(JsonNode report, Map<String, Long> expected) {
    long total = 0;
    for (Map.Entry<String, Long> e : expected.entrySet()) {
      JsonNode m = report.get("models").get(e.getKey());
      assertEquals(e.getValue(), m.get("expected_calls").asLong(), e.getKey() + " planned");
      assertEquals(e.getValue(), m.get("ok").asLong(), e.getKey() + " served");
      assertTrue(m.get("peak_in_flight").asInt() >= 1, e.getKey());
      assertTrue(m.get("peak_in_flight").asInt() <= report.get("settings").get("allowed").asInt()
          || report.get("settings").get("cap").asInt() == 0, e.getKey() + " within the config's limit");
      total += e.getValue();
    }
    assertEquals(total, report.get("calls_ok").asLong());
  }

  private static void assertBounds(JsonNode report) {
    assertTrue(report.get("bound_s").asDouble() > 0);
    assertTrue(report.get("ratio").asDouble() > 0);
    double busiest = 0;
    for (JsonNode m : report.get("models")) {
      busiest = Math.max(busiest, m.get("expected_calls").asDouble());
    }
    double modelTime = busiest * report.get("settings").get("mean_latency_ms").asDouble() / 1000.0
        / report.get("bound_cap").asInt();
    assertTrue(report.get("barrier_bound_s").asDouble() >= modelTime - 1e-9, "stages in turn take at least the busiest model's time");
  }

  @Test
  void w1_singleTurn_everyProposerAndTheAggregatorServeOneCallPerPrompt() throws Exception {
    JsonNode r = bench("W1");
    assertCalls(r, Map.of("sim-proposer-1", 20L, "sim-proposer-2", 20L, "sim-proposer-3", 20L,
        "sim-proposer-4", 20L, "sim-aggregator", 20L));
    assertBounds(r);
    // 20 calls of 5 ms at C = 32, plus a chain of 2 calls: 20*5/32 + 2*5 ms
    assertEquals(20 * 5 / 32.0 / 1000 + 0.010, r.get("bound_s").asDouble(), 0.001);
    // the endpoint takes exactly what the config allows: its limit is known, so no slow start
    assertEquals("32", r.get("settings").get("initial_concurrency").asText());
    assertTrue(Files.readString(dir.resolve("W1").resolve("bench-config.yaml")).contains("initial_concurrency: 32"));
  }

  @Test
  void w2_twoLayersAndTwoTurnConversations_countEveryTurnAndLayer() throws Exception {
    JsonNode r = bench("W2");
    // 20 conversations, 6 of them two-turn: 26 turns; proposers answer each turn in both layers
    assertCalls(r, Map.of("sim-proposer-1", 52L, "sim-proposer-2", 52L, "sim-proposer-3", 52L,
        "sim-proposer-4", 52L, "sim-aggregator", 26L));
    assertBounds(r);
  }

  @Test
  void w3_dpo_samplesJudgesAndLeadJudgeServeTheirShare() throws Exception {
    JsonNode r = bench("W3", "--cap=8");
    // K = 5 samples; 20 ordered pairs per prompt for each judge; the lead judge adds the criteria call
    assertCalls(r, Map.of("sim-policy", 100L, "sim-judge-1", 400L, "sim-judge-2", 400L,
        "sim-judge-3", 400L, "sim-judge-lead", 420L));
    assertBounds(r);
    assertEquals(8, r.get("bound_cap").asInt());
  }

  @Test
  void w4_comparesThePipelineWithTheLoadGenerator() throws Exception {
    JsonNode r = bench("W4", "--duration-s=1", "--workers=4");
    assertCalls(r, Map.of("sim-proposer-1", 20L, "sim-proposer-2", 20L, "sim-proposer-3", 20L,
        "sim-proposer-4", 20L, "sim-aggregator", 20L));
    assertTrue(r.get("pipeline_calls_per_s_sustained").asDouble() > 0);
    JsonNode gen = r.get("load_generator");
    assertTrue(gen.get("ok").asLong() > 0);
    assertEquals(0, gen.get("failed").asLong());
    assertTrue(gen.get("requests_per_s").asDouble() > 0);
    assertTrue(r.get("pipeline_over_generator").asDouble() > 0);
  }

  @Test
  void longTail_andFaults_stillServeEveryCall() throws Exception {
    JsonNode r = bench("W1", "--latency=longtail", "--fault-rate=0.1");
    assertEquals("longtail", r.get("settings").get("latency").asText());
    assertEquals(5 * 1.63, r.get("settings").get("mean_latency_ms").asDouble(), 0.05);
    assertCalls(r, Map.of("sim-proposer-1", 20L, "sim-proposer-2", 20L, "sim-proposer-3", 20L,
        "sim-proposer-4", 20L, "sim-aggregator", 20L));
    assertTrue(r.get("requests").asLong() > r.get("calls_ok").asLong(), "injected 5xx were retried");
  }

  @Test
  void aQueueingServer_coordinatedLimitsAndTheAdaptiveMode_areSetAndReported() throws Exception {
    JsonNode r = bench("W1", "--queue-slots=4", "--allowed=16", "--adaptive=latency", "--coordination=redis");
    JsonNode s = r.get("settings");
    assertEquals(4, s.get("queue_slots").asInt());
    assertEquals("latency", s.get("adaptive").asText());
    assertEquals("redis", s.get("coordination").asText());
    assertEquals(4, r.get("bound_cap").asInt(), "the bound divides by the server's slots");
    JsonNode p1 = r.get("models").get("sim-proposer-1");
    assertTrue(p1.get("peak_in_flight").asInt() <= 4, p1.toString());
    assertTrue(p1.has("median_latency_ms") && p1.has("peak_queued"), p1.toString());
    assertEquals(0, r.get("rate_limited_429").asLong(), "a queueing server never answers 429");
    String config = Files.readString(dir.resolve("W1").resolve("bench-config.yaml"));
    assertTrue(config.contains("adaptive_mode: latency") && config.contains("coordination: {backend: redis"), config);
    assertEquals("default", s.get("initial_concurrency").asText(), "a queueing server's capacity is not known: slow start");
    assertFalse(config.contains("initial_concurrency"), config);
  }

  @Test
  void initialConcurrency_startsAtAKnownCap_unlessToldOtherwise() {
    assertEquals(32, BenchCommand.initialConcurrency(BenchCommand.Options.parse(new String[] {"--workload=W1"})));
    assertEquals(0, BenchCommand.initialConcurrency(BenchCommand.Options.parse(
        new String[] {"--workload=W1", "--initial-concurrency=default"})), "the config's own slow start");
    assertEquals(12, BenchCommand.initialConcurrency(BenchCommand.Options.parse(
        new String[] {"--workload=W1", "--initial-concurrency=12"})));
    assertEquals(0, BenchCommand.initialConcurrency(BenchCommand.Options.parse(
        new String[] {"--workload=W1", "--allowed=64"})), "a config that allows more than the endpoint takes");
    assertEquals(16, BenchCommand.initialConcurrency(BenchCommand.Options.parse(
        new String[] {"--workload=W1", "--allowed=16", "--jvms=2"})), "two JVMs of 16 for a cap of 32");
  }

  @Test
  void plan_countsAndBounds() {
    WorkloadPlan w1 = WorkloadPlan.sft(2000, 4, 1, 0);
    assertEquals(2000L, w1.calls().get("sim-aggregator"));
    assertEquals(32.25, w1.boundSeconds(500, 32), 1e-9, "2000*0.5/32 + 2*0.5");
    assertEquals(63.0, w1.barrierBoundSeconds(500, 32), 1e-9, "2 stages of ceil(2000/32) rounds of 0.5 s");
    WorkloadPlan w2 = WorkloadPlan.sft(2000, 4, 2, 0.3);
    assertEquals(5200L, w2.calls().get("sim-proposer-1"), "2,600 turns x 2 layers");
    assertEquals(5200 * 0.5 / 32 + 2 * 3 * 0.5, w2.boundSeconds(500, 32), 1e-9);
    WorkloadPlan w3 = WorkloadPlan.dpo(500, 5, 3);
    assertEquals(10_500L, w3.calls().get("sim-judge-lead"));
    assertEquals(10_500 * 0.3 / 64 + 4 * 0.3, w3.boundSeconds(300, 64), 1e-9);
    assertEquals((40 + 8 + 2 * 157) * 0.3, w3.barrierBoundSeconds(300, 64), 1e-9);
  }
}

package dev.moaa.pipelines.report;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.Test;

/** The run report of a very large run: exact tallies of every call, charts from a bounded uniform sample. */
class RunDataSampleTest {
  private static GenericRecord call(String model, boolean ok, long latency, long startedAt, int rateLimited) {
    GenericRecord r = new GenericData.Record(SlimCall.SCHEMA);
    r.put("model", model);
    r.put("role", model.startsWith("p") ? "proposer" : "aggregator");
    r.put("error_kind", ok ? null : "server_error");
    r.put("cached", false);
    r.put("ok", ok);
    r.put("attempts", 1 + rateLimited);
    r.put("rate_limited", rateLimited);
    r.put("turn", 0);
    r.put("layer", 0);
    r.put("latency_ms", latency);
    r.put("prompt_tokens", 10L);
    r.put("completion_tokens", 5L);
    r.put("started_at_ms", startedAt);
    r.put("ended_at_ms", startedAt + latency);
    r.put(SlimCall.WORDS, 7L);
    return r;
  }

  @Test
  void pastTheSampleSize_theTalliesStayExact_theSampleStaysBounded_andUniform() {
    RunReport.RunData d = new RunReport.RunData();
    int n = RunReport.RunData.SAMPLE * 2 + 1000;
    List<GenericRecord> batch = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      // p1 answers in 100 ms for the first half of the run and in 300 ms for the second
      batch.add(call(i % 2 == 0 ? "p1" : "agg", i % 100 != 0, i < n / 2 ? 100 : 300, 1_000_000L + i, i % 10 == 0 ? 1 : 0));
      if (batch.size() == 5) {
        d.addCalls(batch);
        batch.clear();
      }
    }
    d.addCalls(batch);
    assertEquals(n, d.seen);
    assertEquals(RunReport.RunData.SAMPLE, d.calls.size());
    assertTrue(d.sampled());
    assertEquals((double) n / RunReport.RunData.SAMPLE, d.scale(), 1e-9);
    long[] p1 = d.perModel.get("p1");
    long half = (n + 1) / 2;
    assertEquals(half, p1[0], "paid calls, exact");
    assertEquals((n + 99) / 100, p1[2], "failures, exact (every 100th call, all p1)");
    assertEquals((n + 9) / 10, p1[3], "429s, exact (every 10th call, all p1)");
    long p1Ok = p1[0] - p1[2];
    assertArrayEquals(new long[] {10 * p1Ok, 5 * p1Ok}, d.tokens.get("proposer").get("p1"));
    assertEquals(1_000_000L, d.firstStart);
    assertEquals(1_000_000L + n - 1, d.lastStart);
    // uniform: about half of the sample comes from each half of the run
    long late = d.calls.stream().filter(c -> ((Number) c.get("latency_ms")).longValue() == 300).count();
    assertEquals(0.5, late / (double) d.calls.size(), 0.01, "share of the sample from the run's second half");
    assertTrue(d.sampleNote().contains("uniform sample of 250,000 of the run's " + String.format("%,d", n) + " calls"),
        d.sampleNote());
  }

  @Test
  void aSmallRun_keepsEveryCall_andSaysNothingAboutSampling() {
    RunReport.RunData d = new RunReport.RunData();
    d.addCalls(List.of(call("p1", true, 100, 5, 0), call("agg", true, 200, 6, 0)));
    assertEquals(2, d.calls.size());
    assertFalse(d.sampled());
    assertEquals(1.0, d.scale(), 1e-12);
    assertEquals("", d.sampleNote());
  }
}

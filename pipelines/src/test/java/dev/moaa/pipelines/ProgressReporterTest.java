package dev.moaa.pipelines;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.transforms.moa.LiveCounters;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.util.Map;
import org.apache.beam.sdk.metrics.Counter;
import org.junit.jupiter.api.Test;

class ProgressReporterTest {
  private static ProgressReporter.Snapshot snapshot(long read, long written, long calls) {
    return ProgressReporter.Snapshot.of(Map.of("rows_read", read, "rows_written", written, "calls/p1", calls));
  }

  @Test
  void beforeAnyRowIsWritten_theEtaComesFromTheCallsStillToMake() {
    try (ProgressReporter r = ProgressReporter.startInThisJvm(Map.of(), new PrintStream(new ByteArrayOutputStream()),
        3600, 5)) {
      assertTrue(r.line(snapshot(1000, 0, 0), 10).contains("ETA ?"), "no call yet");
      assertTrue(r.line(snapshot(1000, 0, 100), 20).contains("ETA ?"), "the first calls only start the clock");
      // 400 more calls in 10 s: 40/s; 5,000 - 500 = 4,500 to go: 112.5 s
      String line = r.line(snapshot(1000, 0, 500), 30);
      assertTrue(line.contains("ETA 1:53"), line);
      // once rows are written, rows decide: 500 of 1,000 in 60 s
      assertTrue(r.line(snapshot(1000, 500, 5000), 60).contains("ETA 1:00"), r.line(snapshot(1000, 500, 5000), 60));
    }
  }

  @Test
  void inThisJvm_theFiguresAreTheCountersSinceTheStart() {
    Counter calls = LiveCounters.counter("calls/progress-test-model");
    calls.inc(7);
    Map<String, Long> before = LiveCounters.snapshot();
    calls.inc(3);
    assertTrue(LiveCounters.since(before, LiveCounters.snapshot()).get("calls/progress-test-model") == 3);
  }

  @Test
  void forAJobOnACluster_theLineSaysNothingOfCallsInFlight_andCountsFromTheRunsStart() {
    try (ProgressReporter r = ProgressReporter.startForCluster(new ClusterCounters("127.0.0.1:9", "none"), Map.of(),
        new PrintStream(new ByteArrayOutputStream()), 3600, 3, 90)) {
      String line = r.line(snapshot(1000, 250, 900), 120);
      assertTrue(line.startsWith("progress 2:00  conversations 250/1000 done (25%)"), line);
      assertTrue(line.contains("calls 900  retries"), "no calls in flight known for a cluster's job: " + line);
      assertTrue(!line.contains("in flight"), line);
      assertTrue(line.contains("ETA 6:00"), "250 rows in 120 s, 750 to go: " + line);
    }
  }
}

package dev.moaa.runners.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.runners.sim.RecordedRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ProcessBenchTest {
  private static final long MS = 1_000_000L;

  private static RecordedRequest call(String model, long arrivedMs, long answeredMs) {
    return new RecordedRequest(model, List.of(), Map.of(), true, 200, 1, 0, arrivedMs * MS, answeredMs * MS, 0);
  }

  @Test
  void measure_readsTheFirstCall_theExitAfterTheLastAnswer_andEachPoolsRampToItsLimit() {
    List<RecordedRequest> log = new ArrayList<>();
    // model a: one call at 2.0 s, a second at 2.3 s: two in flight (its limit) from 2.3 s
    log.add(call("a", 2000, 2500));
    log.add(call("a", 2300, 2800));
    // model b: calls one after the other never overlap: never at its limit of 2
    log.add(call("b", 2100, 2600));
    log.add(call("b", 2600, 3100));
    long[] timing = {0, 3600 * MS, 0};
    ProcessBench.Run r = ProcessBench.measure(timing, log, Map.of("a", 2, "b", 2));
    assertEquals(3.6, r.wallS(), 1e-9);
    assertEquals(2.0, r.firstCallS(), 1e-9, "the first arrival after the start");
    assertEquals(0.5, r.exitAfterLastAnswerS(), 1e-9, "the exit after the last answer (3.1 s)");
    assertEquals(0.3, r.rampS().get("a"), 1e-9, "a reached 2 in flight 0.3 s after its first call");
    assertTrue(Double.isNaN(r.rampS().get("b")), "an answer at the moment of the next arrival frees the slot first");
    assertTrue(Double.isNaN(r.slowestRampS()), "some pool never reached its limit: " + r.rampS());
  }

  @Test
  void median_ofOddAndEvenCounts_ignoringMissingValues() {
    assertEquals(2.0, ProcessBench.median(List.of(3.0, 1.0, 2.0)), 1e-9);
    assertEquals(2.5, ProcessBench.median(List.of(4.0, 1.0, 2.0, 3.0)), 1e-9);
    assertEquals(1.0, ProcessBench.median(List.of(Double.NaN, 1.0)), 1e-9);
    assertTrue(Double.isNaN(ProcessBench.median(List.of())));
  }

  @Test
  void heapAfterGc_readsTheChildsGcLog_byQuarterOfItsRun() throws java.io.IOException {
    java.nio.file.Path log = java.nio.file.Files.createTempFile("gc", ".log");
    java.nio.file.Files.write(log, List.of(
        "[0.010s][info][gc] Using G1",
        "[1.000s][info][gc] GC(0) Pause Young (Normal) (G1 Evacuation Pause) 100M->20M(256M) 3.1ms",
        "[2.000s][info][gc] GC(1) Pause Young (Normal) (G1 Evacuation Pause) 120M->40M(256M) 2.0ms",
        "[2.100s][info][gc] GC(2) Concurrent Mark Cycle 5.0ms",
        "[6.000s][info][gc] GC(3) Pause Young (Normal) (G1 Evacuation Pause) 200M->512K(256M) 2.0ms",
        "[9.000s][info][gc] GC(4) Pause Full (System.gc()) 1G->30M(1G) 40.0ms"));
    ProcessBench.HeapAfterGc h = ProcessBench.HeapAfterGc.read(log, 10.0);
    assertEquals(4, h.collections(), "lines with no before->after figures are not collections");
    assertEquals(List.of(40L << 20, -1L, 512L << 10, 30L << 20), h.byQuarterBytes(), "quarters of 2.5 s; none in the second");
    assertEquals(40L << 20, h.peakBytes());
    assertTrue(h.describe().contains("[40, -1, 1, 30] MB"), h.describe());
    assertEquals(-1, ProcessBench.HeapAfterGc.read(log.resolveSibling("absent-gc.log"), 1.0).peakBytes());
  }
}

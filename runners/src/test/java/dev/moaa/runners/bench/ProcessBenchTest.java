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
}

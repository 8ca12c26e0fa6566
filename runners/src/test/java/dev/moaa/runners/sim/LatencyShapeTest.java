package dev.moaa.runners.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class LatencyShapeTest {

  private static final int DRAWS = 40_000;

  private static long[] draws(SimulatedEndpoint.Settings settings) {
    FaultPlan plan = new FaultPlan(settings);
    long[] out = new long[DRAWS];
    for (int i = 0; i < DRAWS; i++) {
      out[i] = plan.latencyMs(SimHashing.sha256Hex("request body " + i), 1);
    }
    Arrays.sort(out);
    return out;
  }

  private static long percentile(long[] sorted, double p) {
    return sorted[(int) Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  }

  @Test
  void longTail_hasTheConfiguredMedian_andP99TenTimesIt() {
    long[] sorted = draws(SimulatedEndpoint.Settings.defaults()
        .withLatencyMs(200).withLatencyShape(LatencyShape.LONG_TAIL));
    long median = percentile(sorted, 0.5);
    long p99 = percentile(sorted, 0.99);
    assertEquals(200, median, 200 * 0.04, "median");
    assertEquals(2000, p99, 2000 * 0.10, "p99");
    assertTrue(percentile(sorted, 0.1) < 100, "a tenth of the draws are well below the median");
    assertTrue(sorted[sorted.length - 1] <= 200L * LatencyShape.TAIL_CAP_MEDIANS, "cut at 30 medians");
    assertTrue(sorted[0] >= 0);
  }

  @Test
  void longTail_meanMatchesTheClosedForm() {
    long[] sorted = draws(SimulatedEndpoint.Settings.defaults()
        .withLatencyMs(300).withLatencyShape(LatencyShape.LONG_TAIL));
    double mean = Arrays.stream(sorted).average().orElseThrow();
    double expected = LatencyShape.LONG_TAIL.meanMs(300);
    assertEquals(expected, mean, expected * 0.04);
    assertEquals(1.63, expected / 300, 0.01, "about 1.63 medians");
  }

  @Test
  void longTail_isDeterministicPerRequestAndSeed_andAttemptsDrawAfresh() {
    SimulatedEndpoint.Settings settings = SimulatedEndpoint.Settings.defaults()
        .withLatencyMs(100).withLatencyShape(LatencyShape.LONG_TAIL);
    FaultPlan a = new FaultPlan(settings);
    FaultPlan b = new FaultPlan(settings);
    String hash = SimHashing.sha256Hex("same body");
    assertEquals(a.latencyMs(hash, 1), b.latencyMs(hash, 1));
    long differing = 0;
    for (int attempt = 1; attempt <= 50; attempt++) {
      differing += a.latencyMs(hash, attempt) != a.latencyMs(hash, 1) ? 1 : 0;
    }
    assertTrue(differing > 40, "later attempts draw their own latency");
    FaultPlan reseeded = new FaultPlan(settings.withSeed(7));
    long changed = 0;
    for (int i = 0; i < 100; i++) {
      String h = SimHashing.sha256Hex("body " + i);
      changed += reseeded.latencyMs(h, 1) != a.latencyMs(h, 1) ? 1 : 0;
    }
    assertTrue(changed > 90, "the seed changes the draws");
  }

  @Test
  void fixed_isExact_andJitterStillAdds() {
    long[] fixed = draws(SimulatedEndpoint.Settings.defaults().withLatencyMs(250));
    assertEquals(250, fixed[0]);
    assertEquals(250, fixed[fixed.length - 1]);
    long[] jittered = draws(SimulatedEndpoint.Settings.defaults().withLatencyMs(250)
        .withLatencyShape(LatencyShape.LONG_TAIL).withLatencyJitterMs(10));
    assertTrue(percentile(jittered, 0.5) >= 245 && percentile(jittered, 0.5) <= 270);
  }

  @Test
  void flag_parsesBothShapes_andRejectsOthers() {
    assertEquals(LatencyShape.LONG_TAIL, SimulatedEndpointMain.parse(
        new String[] {"--latency=longtail", "--latency-ms=50"}, name -> null).latencyShape());
    assertEquals(LatencyShape.FIXED, SimulatedEndpointMain.parse(new String[] {}, name -> null).latencyShape());
    assertEquals(LatencyShape.LONG_TAIL, LatencyShape.parse("long-tail"));
    assertThrows(IllegalArgumentException.class,
        () -> SimulatedEndpointMain.parse(new String[] {"--latency=uniform"}, name -> null));
  }
}

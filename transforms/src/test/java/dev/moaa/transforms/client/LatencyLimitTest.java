package dev.moaa.transforms.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.transforms.client.ServerSimulation.Window;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The latency-aware limit against simulated servers (virtual clock, seconds of traffic in
 * milliseconds). Every run is one client with endless work and {@code max_concurrency: 64}.
 */
class LatencyLimitTest {
  private static final RateLimits LATENCY = RateLimits.defaults();
  private static final RateLimits AIMD = RateLimits.defaults().withAdaptiveLimit(AdaptiveLimit.aimd());

  private static Window run(ServerSimulation sim, long fromMs, long toMs) {
    sim.runUntil(toMs);
    return sim.window(fromMs, toMs);
  }

  private static void report(String what, Window w) {
    System.out.println(what + ": " + w);
  }

  @Test
  void givenAServerThatQueuesBeyondEightSlots_theLatencyLimitSettlesAtItsKnee_whereAimdFillsTheQueue() {
    // 8 slots, 200 ms a call: at best 40 calls a second, whatever the concurrency from 8 up.
    ServerSimulation latency = new ServerSimulation(64, LATENCY, 8, 200);
    ServerSimulation aimd = new ServerSimulation(64, AIMD, 8, 200);
    Window l = run(latency, 30_000, 120_000);
    Window a = run(aimd, 30_000, 120_000);
    report("queueing server, latency", l);
    report("queueing server, aimd", a);

    assertTrue(l.meanInFlight() >= 8 && l.meanInFlight() <= 12, "settles near 8 in flight: " + l);
    assertTrue(l.throughputPerSecond() >= 0.9 * 40, "at least 90 % of the best: " + l);
    assertTrue(l.medianLatencyMs() <= 300, "median within 1.5 x the service time: " + l);

    assertEquals(64, a.meanInFlight(), 0.5, "AIMD never sees a 429, so it sends all it may: " + a);
    assertEquals(8 * 200, a.medianLatencyMs(), 200, "and every call waits behind 56 others: " + a);
    assertEquals(0, a.rateLimited());

    RequestGate.Stats s = latency.gate.stats();
    assertEquals(200, s.baselineLatencyMs(), 10, "the baseline is the no-load latency");
    assertTrue(s.recentLatencyMs() < 1.5 * 200 * 1.1, "the latest reading: " + s);
    assertTrue(s.latencyCuts() > 0 && s.rateLimited() == 0, s.toString());
    assertEquals(0, aimd.gate.stats().latencyCuts(), "AIMD reads latency but does not act on it");
    assertEquals(8 * 200, aimd.gate.stats().recentLatencyMs(), 200);
  }

  @Test
  void givenAServerThatAnswers429AboveSixteenInFlight_theLatencyLimitDoesAsWellAsAimd() {
    List<String> seen = new ArrayList<>();
    for (long retryAfterMs : new long[] {-1, 1000}) {
      for (double sigma : new double[] {0, 0.6}) {
        ServerSimulation latency = new ServerSimulation(64, LATENCY, 64, 200).rejectingAbove(16, retryAfterMs);
        ServerSimulation aimd = new ServerSimulation(64, AIMD, 64, 200).rejectingAbove(16, retryAfterMs);
        if (sigma > 0) {
          latency.varying(3, sigma);
          aimd.varying(3, sigma);
        }
        Window l = run(latency, 30_000, 120_000);
        Window a = run(aimd, 30_000, 120_000);
        String what = "429 above 16, Retry-After " + retryAfterMs + ", spread " + sigma;
        report(what + ", latency", l);
        report(what + ", aimd", a);
        assertTrue(l.throughputPerSecond() >= 0.99 * a.throughputPerSecond(), what + ": " + l + " vs " + a);
        assertTrue(l.rateLimited() > 0, "the cap is found by its 429s: " + l);
        seen.add(what);
      }
    }
    assertEquals(4, seen.size());
  }

  @Test
  void givenTheServerLosesSlotsAndGetsThemBack_theLimitFollowsItDownAndRecoversUp() {
    ServerSimulation sim = new ServerSimulation(64, LATENCY, 8, 200)
        .changeAt(40_000, 2, 200)
        .changeAt(80_000, 8, 200);
    sim.runUntil(140_000);
    Window down = sim.window(60_000, 80_000);
    Window back = sim.window(80_000, 90_000);
    Window after = sim.window(90_000, 140_000);
    report("2 slots of 8", down);
    report("8 slots again, first 10 s", back);
    report("8 slots again, after", after);

    assertTrue(down.meanInFlight() <= 5, "down toward 2 in flight: " + down);
    assertTrue(down.throughputPerSecond() >= 0.9 * 10, down.toString());
    assertTrue(back.throughputPerSecond() >= 0.8 * 40, "back up within seconds: " + back);
    assertTrue(after.meanInFlight() >= 8 && after.meanInFlight() <= 12, after.toString());
    assertTrue(after.throughputPerSecond() >= 0.9 * 40, after.toString());
    assertTrue(after.medianLatencyMs() <= 300, after.toString());
  }

  @Test
  void givenEveryCallGetsSlower_theBaselineRisesInsteadOfStarvingTheServer_andFallsBackAfter() {
    ServerSimulation sim = new ServerSimulation(64, LATENCY, 8, 200)
        .changeAt(40_000, 8, 400)
        .changeAt(100_000, 8, 200);
    sim.runUntil(100_000);
    Window slower = sim.window(50_000, 100_000);
    double slowerBaseline = sim.gate.stats().baselineLatencyMs();
    sim.runUntil(160_000);
    Window faster = sim.window(110_000, 160_000);
    report("every call twice as long", slower);
    report("back to 200 ms", faster);

    assertTrue(slower.throughputPerSecond() >= 0.9 * 20, "8 slots of 400 ms stay busy: " + slower);
    assertTrue(slower.meanInFlight() >= 8 && slower.meanInFlight() <= 12, slower.toString());
    assertEquals(400, slowerBaseline, 40, "the baseline rose with the server");
    assertTrue(faster.throughputPerSecond() >= 0.9 * 40, faster.toString());
    assertEquals(200, sim.gate.stats().baselineLatencyMs(), 20, "and came back down");
  }

  @Test
  void givenCallsOfVeryDifferentLengths_theLatencyLimitKeepsTheSlotsBusyAndTheQueueShort() {
    for (double sigma : new double[] {0.3, 0.6, 1.0}) {
      // Log-normal service times, median 200 ms; at sigma 1 one call in ten takes 3.6 times that.
      Window l = run(new ServerSimulation(64, LATENCY, 8, 200).varying(1, sigma), 30_000, 120_000);
      Window a = run(new ServerSimulation(64, AIMD, 8, 200).varying(1, sigma), 30_000, 120_000);
      report("spread " + sigma + ", latency", l);
      report("spread " + sigma + ", aimd", a);
      // AIMD keeps all 8 slots busy, so its throughput is the best there is. At sigma 1 a reading
      // needs about 60 calls to tell a queue from chance, and the limit runs a little lower.
      double share = sigma < 1 ? 0.9 : 0.85;
      assertTrue(l.throughputPerSecond() >= share * a.throughputPerSecond(), sigma + ": " + l + " vs " + a);
      assertTrue(l.medianLatencyMs() <= 0.25 * a.medianLatencyMs(), sigma + ": " + l + " vs " + a);

      Window big = run(new ServerSimulation(64, LATENCY, 64, 200).varying(2, sigma), 30_000, 120_000);
      Window bigAimd = run(new ServerSimulation(64, AIMD, 64, 200).varying(2, sigma), 30_000, 120_000);
      assertTrue(big.throughputPerSecond() >= 0.98 * bigAimd.throughputPerSecond(),
          "noise alone does not cut a server that never queues: " + big + " vs " + bigAimd);
    }
  }

  @Test
  void givenAReadTimeoutShorterThanTheQueue_aimdTimesOutWhileTheLatencyLimitDoesNot() {
    Window l = run(new ServerSimulation(64, LATENCY, 8, 200).readTimeoutMs(1000), 30_000, 120_000);
    Window a = run(new ServerSimulation(64, AIMD, 8, 200).readTimeoutMs(1000), 30_000, 120_000);
    report("read timeout 1 s, latency", l);
    report("read timeout 1 s, aimd", a);
    assertEquals(0, l.timedOut(), l.toString());
    assertTrue(a.timedOut() > 0, "AIMD learns the queue only from timeouts: " + a);
    assertTrue(a.meanInFlight() < 64, "each of which cuts its limit: " + a);
  }

  @Test
  void aTimeoutCutsTheLimitOncePerRound_inEitherMode() {
    for (RateLimits limits : new RateLimits[] {LATENCY, AIMD}) {
      RequestGate g = new RequestGate(64, RateLimits.of(0, 0, true, 0.5, 16)
          .withAdaptiveLimit(limits.adaptiveLimit()), () -> 0L);
      List<RequestGate.Permit> flying = new ArrayList<>();
      for (int i = 0; i < 16; i++) {
        flying.add(g.tryAcquire(1));
      }
      for (int i = 0; i < 3; i++) {
        g.release(flying.get(i), RequestGate.Result.TIMEOUT, -1, -1);
      }
      RequestGate.Stats s = g.stats();
      assertEquals(8, s.limit(), 1e-9, "three timeouts of one round cut once: 16 * 0.5");
      assertEquals(1, s.cuts());
      assertEquals(3, s.timedOut());
      assertEquals(0, s.latencyCuts());
    }
  }

  @Test
  void theStatsHaveNoLatencyBeforeTheFirstReading() {
    RequestGate g = new RequestGate(8, RateLimits.defaults(), () -> 0L);
    g.release(g.tryAcquire(1), RequestGate.Result.SUCCESS, -1, -1);
    assertTrue(Double.isNaN(g.stats().baselineLatencyMs()));
    assertTrue(Double.isNaN(g.stats().recentLatencyMs()));
  }

  @Test
  void theAdaptiveLimitIsValidated_andPartOfTheSharingKey() {
    assertEquals(AdaptiveLimit.Mode.LATENCY, RateLimits.defaults().adaptiveLimit().mode());
    assertEquals(AdaptiveLimit.Mode.LATENCY, RateLimits.of(0, 0, true, 0.7, 8).adaptiveLimit().mode());
    assertNotEquals(LATENCY.sharingKey(), AIMD.sharingKey());
    assertEquals(AdaptiveLimit.Mode.AIMD, AdaptiveLimit.Mode.parse(" Aimd "));
    assertThrows(IllegalArgumentException.class, () -> AdaptiveLimit.Mode.parse("vegas"));
    assertThrows(IllegalArgumentException.class, () -> AdaptiveLimit.latency().withTolerance(1.0));
    assertThrows(IllegalArgumentException.class, () -> AdaptiveLimit.latency().withWindow(2));
    assertEquals(2.0, AdaptiveLimit.latency().withTolerance(2).tolerance());
  }

  @Test
  void startingAtMaxConcurrency_theLimitFindsAQueuesKneeFromAbove_andKeepsAFreeServerAtTheTopUnprobed() {
    RateLimits top = RateLimits.of(0, 0, true, 0.7, 64); // starts at max_concurrency
    ServerSimulation queueing = new ServerSimulation(64, top, 8, 200);
    Window start = run(queueing, 0, 10_000);
    Window after = run(queueing, 10_000, 120_000);
    report("from the top, queueing server, first 10 s", start);
    report("from the top, queueing server, after", after);
    assertTrue(start.throughputPerSecond() >= 0.8 * 40, "the slots stay busy while the knee is found: " + start);
    assertTrue(after.meanInFlight() >= 8 && after.meanInFlight() <= 12, "settles near 8 in flight: " + after);
    assertTrue(after.throughputPerSecond() >= 0.9 * 40, "at least 90 % of the best: " + after);
    assertTrue(after.medianLatencyMs() <= 300, "median within 1.5 x the service time: " + after);

    ServerSimulation free = new ServerSimulation(64, top, 64, 200);
    Window freeStart = run(free, 0, 2_000);
    Window freeAfter = run(free, 2_000, 60_000);
    report("from the top, server with 64 slots, first 2 s", freeStart);
    report("from the top, server with 64 slots, after", freeAfter);
    assertEquals(64, freeStart.minLimit(), "a burst that did not queue is not probed: the limit stays at the top");
    assertTrue(freeStart.throughputPerSecond() >= 0.85 * 320, "only the first round trip's start: " + freeStart);
    assertTrue(freeAfter.throughputPerSecond() >= 0.95 * 320, "back at the top: " + freeAfter);

    // a config that allows 64 where the endpoint takes 16 and answers 429 beyond
    ServerSimulation capped = new ServerSimulation(64, top, 64, 200).rejectingAbove(16, -1);
    Window cappedStart = run(capped, 0, 5_000);
    Window cappedAfter = run(capped, 5_000, 60_000);
    report("from the top, 429 above 16, first 5 s", cappedStart);
    report("from the top, 429 above 16, after", cappedAfter);
    long calls = Math.round(cappedStart.throughputPerSecond() * 5);
    assertTrue(cappedStart.rateLimited() < 0.15 * (calls + cappedStart.rateLimited()),
        "the first burst's 429s bring the limit to what the endpoint took at once: " + cappedStart);
    assertTrue(cappedStart.throughputPerSecond() >= 0.8 * 80, "the slots stay busy: " + cappedStart);
    assertTrue(cappedAfter.throughputPerSecond() >= 0.9 * 80, cappedAfter.toString());
  }

  @Test
  void aColdFirstReading_doesNotHideTheQueueThatSlowStartMakesNext() {
    // Measured on a server with 8 slots and 200 ms calls: the first reading, at 7 in flight, had a
    // median of 429 ms (a cold process) and a quickest quarter of 223 ms; the next, at 15 in flight,
    // read 401 ms throughout (every call queued behind one other). By the median alone, 401 ms is
    // below the cold baseline: slow start went on doubling, to 64.
    long[] cold = {223, 223, 224, 225, 420, 425, 429, 429, 430, 431, 432, 433, 435, 440, 450, 460};
    long[] queued = {391, 391, 392, 395, 398, 400, 401, 401, 401, 402, 403, 404, 405, 406, 410, 420};
    assertEquals(16, growthAfter(cold, queued), 1e-9, "the quickest quarter rose from 223 to 391 ms: growth stops");

    long[] warm = {200, 200, 201, 201, 202, 202, 203, 203, 204, 204, 205, 205, 206, 206, 207, 207};
    assertEquals(32, growthAfter(warm, warm), 1e-9, "a reading that did not rise lets slow start double");
  }

  /**
   * The slow-start growth cap after two readings of 16 calls each, the first at 7 in flight under a
   * limit of 8, the second at 15 under 16, both admitted before the first ended (as in a run).
   */
  private static double growthAfter(long[] first, long[] second) {
    LatencyLimit l = new LatencyLimit(AdaptiveLimit.latency(), true, 8, false);
    List<LatencyLimit.Ticket> a = new ArrayList<>();
    List<LatencyLimit.Ticket> b = new ArrayList<>();
    for (int i = 0; i < 16; i++) {
      a.add(l.admit(0, 7, 8));
    }
    for (int i = 0; i < 16; i++) {
      b.add(l.admit(1_000_000L, 15, 16));
    }
    for (int i = 0; i < 16; i++) {
      l.ended(8, a.get(i), true, first[i] * 1_000_000L, 500_000_000L);
    }
    assertEquals(16, l.growthCap(true), 1e-9, "after a first reading slow start may double");
    for (int i = 0; i < 16; i++) {
      l.ended(16, b.get(i), true, second[i] * 1_000_000L, 1_000_000_000L);
    }
    return l.growthCap(true);
  }
}

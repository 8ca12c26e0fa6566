package dev.moaa.transforms.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class RequestGateTest {

  private static List<RequestGate.Permit> take(RequestGate g, int n) throws InterruptedException {
    List<RequestGate.Permit> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(g.acquire(1));
    }
    return out;
  }

  /** A client with more work than the gate admits: fills every free slot, then ends the oldest. */
  private static final class Saturated {
    final RequestGate gate;
    final java.util.ArrayDeque<RequestGate.Permit> flying = new java.util.ArrayDeque<>();

    Saturated(RequestGate gate) {
      this.gate = gate;
      fill();
    }

    void fill() {
      RequestGate.Permit p;
      while ((p = gate.tryAcquire(1)) != null) {
        flying.add(p);
      }
    }

    /** Ends the oldest attempts with {@code result}, refilling after each. */
    void end(int n, RequestGate.Result result) {
      for (int i = 0; i < n; i++) {
        gate.release(flying.poll(), result, -1, -1);
        fill();
      }
    }
  }

  @Test
  void slowStartDoublesPerRoundUntilTheFirst429_whichCutsOncePerRound() {
    RequestGate g = new RequestGate(64, RateLimits.of(0, 0, true, 0.5, 4));
    Saturated c = new Saturated(g);
    assertEquals(4, c.flying.size());
    c.end(4, RequestGate.Result.SUCCESS);
    assertEquals(8, g.stats().limit(), 1e-9, "a full round of successes doubles the limit");
    assertEquals(8, c.flying.size());
    c.end(3, RequestGate.Result.RATE_LIMITED);
    assertEquals(4, g.stats().limit(), 1e-9, "three 429s of one round cut once: 8 * 0.5");
    assertEquals(1, g.stats().cuts());
    double before = g.stats().limit();
    c.end(12, RequestGate.Result.SUCCESS);
    double grown = g.stats().limit() - before;
    assertTrue(grown > 0.5 && grown < 3, "after a cut, about one per round: " + grown);
  }

  @Test
  void theLimitNeverPassesMaxConcurrency_andDoesNotGrowWhileUnused() throws Exception {
    RequestGate g = new RequestGate(6, RateLimits.of(0, 0, true, 0.5, 4));
    for (int i = 0; i < 50; i++) {
      for (RequestGate.Permit p : take(g, (int) g.stats().limit())) {
        g.release(p, RequestGate.Result.SUCCESS, -1, -1);
      }
    }
    assertEquals(6, g.stats().limit(), 1e-9);
    RequestGate idle = new RequestGate(64, RateLimits.of(0, 0, true, 0.5, 4));
    for (int i = 0; i < 20; i++) {
      idle.release(idle.acquire(1), RequestGate.Result.SUCCESS, -1, -1); // one at a time: never full
    }
    assertEquals(4, idle.stats().limit(), 1e-9);
  }

  @Test
  void aFullGateHoldsTheNextRequestUntilOneEnds() throws Exception {
    RequestGate g = new RequestGate(2, RateLimits.of(0, 0, false, 0.5, 2));
    List<RequestGate.Permit> two = take(g, 2);
    CompletableFuture<RequestGate.Permit> third = CompletableFuture.supplyAsync(() -> {
      try {
        return g.acquire(1);
      } catch (InterruptedException e) {
        throw new IllegalStateException(e);
      }
    });
    Thread.sleep(150);
    assertTrue(!third.isDone(), "held while two are in flight");
    g.release(two.get(0), RequestGate.Result.SUCCESS, -1, -1);
    assertTrue(third.get(5, TimeUnit.SECONDS) != null);
  }

  @Test
  void retryAfterHoldsEveryNewRequestOfTheModel() throws Exception {
    RequestGate g = new RequestGate(8, RateLimits.of(0, 0, true, 0.5, 8));
    g.release(g.acquire(1), RequestGate.Result.RATE_LIMITED, -1, 300);
    long t = System.nanoTime();
    g.acquire(1);
    long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t);
    assertTrue(waited >= 250, "waited " + waited + " ms for a 300 ms Retry-After");
  }

  @Test
  void requestsPerMinuteAreSpreadOut() throws Exception {
    // 600 per minute = 10 per second, with a burst of ten seconds' worth (100) allowed at once.
    RequestGate g = new RequestGate(1000, RateLimits.of(600, 0, false, 0.5, 1));
    long t = System.nanoTime();
    for (int i = 0; i < 103; i++) {
      g.release(g.acquire(1), RequestGate.Result.SUCCESS, -1, -1);
    }
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t);
    assertTrue(ms >= 200, "three beyond the burst take about 0.3 s, took " + ms + " ms");
  }

  @Test
  void tokensPerMinuteCountWhatWasReallyUsed() throws Exception {
    RequestGate g = new RequestGate(1000, RateLimits.of(0, 6000, false, 0.5, 1)); // bucket of 1000
    RequestGate.Permit p = g.acquire(100);
    g.release(p, RequestGate.Result.SUCCESS, 1000, -1); // really used 1000: the bucket is now empty
    long t = System.nanoTime();
    g.acquire(50); // 6000 per minute = 100 per second: about half a second for 50
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t);
    assertTrue(ms >= 300, "waited for the bucket to refill: " + ms + " ms");
  }

  @Test
  void aWaitAfterAdmissionThatIsNotTheServers_isNotReadAsLatency() throws Exception {
    long[] now = {0};
    RequestGate told = new RequestGate(8, RateLimits.defaults(), () -> now[0]);
    RequestGate untold = new RequestGate(8, RateLimits.defaults(), () -> now[0]);
    for (int i = 0; i < 40; i++) {
      RequestGate.Permit a = told.acquire(1);
      RequestGate.Permit b = untold.acquire(1);
      now[0] += TimeUnit.SECONDS.toNanos(5); // waiting for a slot of the limit the cluster shares
      told.sending(a);
      now[0] += TimeUnit.MILLISECONDS.toNanos(200); // the server's answer
      told.release(a, RequestGate.Result.SUCCESS, -1, -1);
      untold.release(b, RequestGate.Result.SUCCESS, -1, -1);
    }
    assertEquals(200, told.stats().recentLatencyMs(), 1, "timed from sending: " + told.stats());
    assertEquals(5200, untold.stats().recentLatencyMs(), 1, "timed from admission: " + untold.stats());
  }
}

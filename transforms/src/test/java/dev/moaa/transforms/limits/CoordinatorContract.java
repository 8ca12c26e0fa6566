package dev.moaa.transforms.limits;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The contract every {@link Coordinator} keeps, run against each implementation. Two coordinators
 * opened on one key stand for two workers (two JVMs for Redis) of one run.
 */
abstract class CoordinatorContract {
  private final List<Coordinator> opened = new ArrayList<>();

  /** A spec of the implementation under test, with this key. */
  abstract Coordination coordination(String key);

  Coordinator open(Coordination spec) {
    Coordinator c = spec.open();
    opened.add(c);
    return c;
  }

  static String freshKey() {
    return "test-" + UUID.randomUUID();
  }

  @AfterEach
  void closeAll() {
    for (Coordinator c : opened) {
      c.close();
    }
    opened.clear();
  }

  @Test
  void twoWorkersSharingAKey_neverHoldMoreSlotsThanTheLimit_under16ThreadsEach() throws Exception {
    Coordination spec = coordination(freshKey());
    Coordinator a = open(spec);
    Coordinator b = open(spec);
    int limit = 4;
    AtomicInteger inUse = new AtomicInteger();
    AtomicInteger peak = new AtomicInteger();
    AtomicInteger timedOut = new AtomicInteger();
    AtomicInteger[] taken = {new AtomicInteger(), new AtomicInteger()};
    ExecutorService pool = Executors.newFixedThreadPool(32);
    List<Future<?>> done = new ArrayList<>();
    for (int t = 0; t < 32; t++) {
      int worker = t % 2;
      Coordinator c = worker == 0 ? a : b;
      done.add(pool.submit(() -> {
        for (int i = 0; i < 12; i++) {
          Slot s = c.acquireSlot("m", limit, Duration.ofSeconds(30));
          if (s == null) {
            timedOut.incrementAndGet();
            continue;
          }
          int now = inUse.incrementAndGet();
          peak.accumulateAndGet(now, Math::max);
          taken[worker].incrementAndGet();
          Thread.sleep(2);
          inUse.decrementAndGet();
          c.release(s);
        }
        return null;
      }));
    }
    for (Future<?> f : done) {
      f.get(60, TimeUnit.SECONDS);
    }
    pool.shutdown();
    System.out.println(getClass().getSimpleName() + ": 384 slots taken by 32 threads of two workers, round trips "
        + a.roundTripsByOperation() + " and " + b.roundTripsByOperation());
    assertEquals(0, timedOut.get());
    assertEquals(limit, peak.get(), "the limit is reached and never passed");
    assertEquals(16 * 12, taken[0].get());
    assertEquals(16 * 12, taken[1].get());
    assertEquals(0, a.slotsInUse("m"));
  }

  @Test
  void aSlotIsTakenOnlyWhileFewerThanTheLimitAreHeld_andAWaitEndsAtItsTimeout() throws Exception {
    Coordination spec = coordination(freshKey());
    Coordinator a = open(spec);
    Coordinator b = open(spec);
    Slot s1 = a.tryAcquireSlot("m", 2);
    Slot s2 = b.tryAcquireSlot("m", 2);
    assertNotNull(s1);
    assertNotNull(s2);
    assertNull(a.tryAcquireSlot("m", 2));
    assertNotNull(a.tryAcquireSlot("other-model", 2), "models are counted apart");
    assertEquals(2, b.slotsInUse("m"));
    long t0 = System.nanoTime();
    assertNull(b.acquireSlot("m", 2, Duration.ofMillis(300)));
    long waited = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    assertTrue(waited >= 290 && waited < 2000, "waited " + waited + " ms");
    a.release(s1);
    a.release(s1);
    assertEquals(1, b.slotsInUse("m"), "a second release of one slot is ignored");
    assertNotNull(b.acquireSlot("m", 2, Duration.ofSeconds(1)));
    Coordinator other = open(coordination(freshKey()));
    assertNotNull(other.tryAcquireSlot("m", 1), "another key shares nothing");
  }

  @Test
  void aWaiterGetsASlotAsSoonAsAnotherWorkerReleasesIt() throws Exception {
    Coordination spec = coordination(freshKey());
    Coordinator a = open(spec);
    Coordinator b = open(spec);
    Slot held = a.tryAcquireSlot("m", 1);
    ExecutorService pool = Executors.newSingleThreadExecutor();
    Future<Slot> waiting = pool.submit(() -> b.acquireSlot("m", 1, Duration.ofSeconds(10)));
    Thread.sleep(200);
    assertFalse(waiting.isDone());
    long t0 = System.nanoTime();
    a.release(held);
    assertNotNull(waiting.get(5, TimeUnit.SECONDS));
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    assertTrue(ms < 500, "the waiter polls with a short backoff, got the slot after " + ms + " ms");
    pool.shutdown();
  }

  @Test
  void slotsOfAWorkerThatDied_comeBackWithinTheLeaseTtl() throws Exception {
    Coordination spec = coordination(freshKey()).withLeaseTtl(Duration.ofSeconds(1));
    Coordinator dying = spec.open();
    Coordinator b = open(spec);
    assertNotNull(dying.tryAcquireSlot("m", 2));
    assertNotNull(dying.tryAcquireSlot("m", 2));
    ((LeasingCoordinator) dying).abandon(); // as a SIGKILL: no release, no more heartbeats
    long t0 = System.nanoTime();
    assertNull(b.tryAcquireSlot("m", 2));
    assertNotNull(b.acquireSlot("m", 2, Duration.ofSeconds(5)));
    assertNotNull(b.acquireSlot("m", 2, Duration.ofSeconds(5)));
    long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    assertTrue(ms >= 800 && ms <= 2500, "reclaimed after " + ms + " ms with a 1000 ms lease");
  }

  @Test
  void theHeartbeatKeepsHeldSlotsPastTheirTtl() throws Exception {
    Coordination spec = coordination(freshKey()).withLeaseTtl(Duration.ofMillis(1000));
    Coordinator a = open(spec);
    Coordinator b = open(spec);
    Slot s = a.tryAcquireSlot("m", 1);
    assertNotNull(s);
    Thread.sleep(2200);
    assertNull(b.tryAcquireSlot("m", 1), "two lease times later the slot is still held");
    assertEquals(0, ((LeasingCoordinator) a).lostLeases());
    a.release(s);
    assertNotNull(b.tryAcquireSlot("m", 1));
  }

  @Test
  void requestsPerMinuteHoldAcrossWorkers_within5PercentOverTenSeconds() throws Exception {
    Coordination spec = coordination(freshKey());
    Coordinator a = open(spec);
    Coordinator b = open(spec);
    AtomicInteger admitted = new AtomicInteger();
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    ExecutorService pool = Executors.newFixedThreadPool(8);
    List<Future<?>> done = new ArrayList<>();
    for (int t = 0; t < 8; t++) {
      Coordinator c = t % 2 == 0 ? a : b;
      done.add(pool.submit(() -> {
        while (true) {
          long left = TimeUnit.NANOSECONDS.toMillis(end - System.nanoTime());
          if (left <= 0) {
            return null;
          }
          long wait = c.admitRate("m", 600, 0, 100);
          if (wait == 0) {
            admitted.incrementAndGet();
          } else {
            Thread.sleep(Math.min(wait, left));
          }
        }
      }));
    }
    for (Future<?> f : done) {
      f.get(30, TimeUnit.SECONDS);
    }
    pool.shutdown();
    int n = admitted.get();
    System.out.println(getClass().getSimpleName() + ": 600 requests a minute for 10 s, two workers: admitted " + n);
    assertTrue(n >= 95 && n <= 105, "600 requests a minute for 10 s admitted " + n);
  }

  @Test
  void tokensPerMinuteCountTheEstimate_thenTheCorrection() {
    Coordination spec = coordination(freshKey());
    Coordinator a = open(spec);
    Coordinator b = open(spec);
    // 60,000 a minute: 1,000 tokens a second, a bucket of 200
    assertEquals(0, a.admitRate("m", 0, 60_000, 100));
    assertEquals(0, b.admitRate("m", 0, 60_000, 100));
    long w = a.admitRate("m", 0, 60_000, 100);
    assertTrue(w > 0 && w <= 100, "200 tokens in the bucket, the next 100 wait ~0-100 ms: " + w);
    a.correctTokens("m", 900); // the first call used 1,000
    long w2 = b.admitRate("m", 0, 60_000, 100);
    assertTrue(w2 >= 700 && w2 <= 1000, "900 more tokens to drain first: " + w2);
    b.correctTokens("m", -900);
    long w3 = a.admitRate("m", 0, 60_000, 100);
    assertTrue(w3 <= 100, "the correction gives the tokens back: " + w3);
  }

  @Test
  void aCallLargerThanTheBucketGoesWhenTheBucketIsEmpty() throws Exception {
    Coordinator a = open(coordination(freshKey()));
    assertEquals(0, a.admitRate("m", 0, 60_000, 5_000), "an empty bucket takes any one call");
    long w = a.admitRate("m", 0, 60_000, 5_000);
    assertTrue(w >= 4_500 && w <= 5_000, "5,000 tokens at 1,000 a second drain in 5 s: " + w);
  }

  @Test
  void aHoldIsSeenByEveryWorker_andALongerHoldStays() throws Exception {
    Coordination spec = coordination(freshKey());
    Coordinator a = open(spec);
    Coordinator b = open(spec);
    assertEquals(0, b.holdRemainingMs("m"));
    a.holdFor("m", Duration.ofMillis(400));
    a.holdFor("m", Duration.ofMillis(50));
    long left = b.holdRemainingMs("m");
    assertTrue(left > 200 && left <= 400, "left " + left);
    long w = b.admitRate("m", 0, 0, 1);
    assertTrue(w > 200 && w <= 400, "a held model admits nothing: " + w);
    assertEquals(0, b.holdRemainingMs("other"));
    b.holdUntil("other", System.currentTimeMillis() + 200);
    assertTrue(a.holdRemainingMs("other") > 100);
    Thread.sleep(450);
    assertEquals(0, b.holdRemainingMs("m"));
    assertEquals(0, b.admitRate("m", 0, 0, 1));
  }

  @Test
  void everyWorkerSeesOneAdaptiveLimit_andABurstOf429sCutsItOnce() {
    Coordination spec = coordination(freshKey());
    Coordinator a = open(spec);
    Coordinator b = open(spec);
    double seenByA = a.adaptiveLimit("m", 8);
    double seenByB = b.adaptiveLimit("m", 16);
    assertEquals(8.0, seenByA);
    assertEquals(8.0, seenByB, "the first worker's initial value wins");
    assertTrue(a.compareAndSetAdaptiveLimit("m", seenByA, seenByA * 0.7));
    assertFalse(b.compareAndSetAdaptiveLimit("m", seenByB, seenByB * 0.7), "already cut by another worker");
    assertEquals(5.6, b.adaptiveLimit("m", 8), 1e-12);
    double now = b.adaptiveLimit("m", 8);
    assertTrue(b.compareAndSetAdaptiveLimit("m", now, now + 1 / now));
    assertEquals(now + 1 / now, a.adaptiveLimit("m", 8));
    assertFalse(a.compareAndSetAdaptiveLimit("unset", 8, 4), "nothing to compare with");
  }

  @Test
  void twoWorkersSpendingConcurrently_neverSettleMoreThanTheLimit_andBothSeeTheLedgerClose() throws Exception {
    Coordination spec = coordination(freshKey());
    Coordinator a = open(spec);
    Coordinator b = open(spec);
    double max = 1.0;
    AtomicLong settledMicro = new AtomicLong();
    AtomicLong settledTokens = new AtomicLong();
    ExecutorService pool = Executors.newFixedThreadPool(16);
    List<Future<?>> done = new ArrayList<>();
    for (int t = 0; t < 16; t++) {
      Coordinator c = t % 2 == 0 ? a : b;
      done.add(pool.submit(() -> {
        while (true) {
          Reservation r = c.reserve(0.03, 300, max, 0);
          if (r == null) {
            return null;
          }
          Thread.sleep(1);
          double usd = ThreadLocalRandom.current().nextDouble(0.005, 0.03);
          long tokens = ThreadLocalRandom.current().nextLong(50, 300);
          c.settle(r, usd, tokens);
          settledMicro.addAndGet(Math.round(usd * 1e6));
          settledTokens.addAndGet(tokens);
        }
      }));
    }
    for (Future<?> f : done) {
      f.get(30, TimeUnit.SECONDS);
    }
    pool.shutdown();
    BudgetState sa = a.budget();
    BudgetState sb = b.budget();
    assertEquals(sa, sb, "one ledger");
    assertTrue(sa.spentMicroUsd() <= 1_000_000, "spent " + sa.spentUsd());
    assertTrue(sa.spentUsd() > 0.5, "spent " + sa.spentUsd());
    assertEquals(settledMicro.get(), sa.spentMicroUsd(), "no settlement lost");
    assertEquals(settledTokens.get(), sa.spentTokens());
    assertEquals(0, sa.reservedMicroUsd());
    assertEquals(0, sa.reservedTokens());
    assertTrue(a.budgetClosed());
    assertTrue(b.budgetClosed());
    assertTrue(sa.refused() >= 16, "every thread stopped at a refusal: " + sa.refused());
    assertNull(a.reserve(0.000001, 1, max, 0), "a closed ledger refuses even the smallest call");
    assertNull(b.reserve(0, 0, 0, 0), "and a call with no limit");
    assertEquals(sa.refused() + 2, b.refused());
    assertEquals(a.spentUsd(), b.spentUsd());
    assertEquals(a.spentTokens(), b.spentTokens());
  }

  @Test
  void aTokenBudgetWorksTheSameWay_andAFailedCallCostsNothing() {
    Coordinator a = open(coordination(freshKey()));
    Reservation r = a.reserve(0, 600, 0, 1000);
    assertNotNull(r);
    a.settle(r, 0, 0);
    assertNotNull(a.reserve(0, 900, 0, 1000));
    assertNull(a.reserve(0, 200, 0, 1000), "900 in flight + 200 could pass 1000");
    assertTrue(a.budgetClosed());
    assertEquals(1, a.refused());
  }

  @Test
  void reservationsOfAWorkerThatDied_areReleasedAfterTheTtl_andItsSettledSpendStays() throws Exception {
    Coordination spec = coordination(freshKey()).withLeaseTtl(Duration.ofSeconds(1));
    Coordinator dying = spec.open();
    Coordinator b = open(spec);
    dying.settle(dying.reserve(0.2, 100, 1.0, 0), 0.1, 50);
    assertNotNull(dying.reserve(0.5, 1000, 1.0, 0));
    Thread.sleep(1300);
    assertEquals(500_000, b.budget().reservedMicroUsd(), "renewed while its worker lives");
    ((LeasingCoordinator) dying).abandon();
    Thread.sleep(1300);
    BudgetState s = b.budget();
    assertEquals(0, s.reservedMicroUsd());
    assertEquals(0, s.reservedTokens());
    assertEquals(100_000, s.spentMicroUsd());
    assertEquals(50, s.spentTokens());
    assertNotNull(b.reserve(0.85, 1, 1.0, 0), "0.1 spent + 0.85 fits");
  }

  @Test
  void closingReleasesWhatIsHeld_andACloseCoordinatorRefusesCalls() {
    Coordination spec = coordination(freshKey());
    Coordinator a = spec.open();
    Coordinator b = open(spec);
    assertNotNull(a.tryAcquireSlot("m", 1));
    assertNotNull(a.reserve(0.5, 10, 1, 0));
    a.close();
    assertNotNull(b.tryAcquireSlot("m", 1));
    assertEquals(0, b.budget().reservedMicroUsd());
    assertThrows(IllegalStateException.class, () -> a.tryAcquireSlot("m", 1));
    assertThrows(IllegalStateException.class, () -> a.admitRate("m", 1, 1, 1));
    a.close();
  }
}

package dev.moaa.transforms.moa;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.beam.sdk.transforms.windowing.GlobalWindow;
import org.joda.time.Instant;
import org.junit.Test;

public class ChainsInFlightTest {
  private static final GlobalWindow W = GlobalWindow.INSTANCE;

  @Test
  public void finishedChainsOfTheSameTimeAreEmittedAtOnce_othersWhenTheBundleEnds() throws Exception {
    ChainsInFlight<String> chains = new ChainsInFlight<>(10, "test");
    List<String> now = new ArrayList<>();
    CompletableFuture<String> later = new CompletableFuture<>();
    assertEquals(1, chains.add(CompletableFuture.completedFuture("a"), new Instant(1), W, now::add));
    assertEquals(List.of("a"), now);
    CompletableFuture<String> b = new CompletableFuture<>();
    chains.add(b, new Instant(2), W, now::add);
    b.complete("b");
    chains.add(later, new Instant(3), W, now::add);
    // "b" is done now, but it started at another time than the current element: not emitted here
    chains.add(CompletableFuture.completedFuture("c"), new Instant(3), W, now::add);
    assertEquals(List.of("a", "c"), now);
    later.complete("d");
    List<String> atEnd = new ArrayList<>();
    chains.drain((r, t, w) -> atEnd.add(r + "@" + t.getMillis()));
    assertEquals(List.of("b@2", "d@3"), atEnd);
  }

  @Test
  public void atTheLimitAddWaitsForAChainToFinish() throws Exception {
    ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    try {
      ChainsInFlight<String> chains = new ChainsInFlight<>(2, "test");
      List<String> emitted = new ArrayList<>();
      CompletableFuture<String> slow = new CompletableFuture<>();
      timer.schedule(() -> slow.complete("slow"), 200, TimeUnit.MILLISECONDS);
      chains.add(slow, new Instant(0), W, emitted::add);
      chains.add(new CompletableFuture<>(), new Instant(0), W, emitted::add);
      // two under way: add returned only after one finished, and emitted it
      assertEquals(List.of("slow"), emitted);
    } finally {
      timer.shutdownNow();
    }
  }

  @Test
  public void aChainThatFailsFailsTheBundleWithItsCause() {
    ChainsInFlight<String> chains = new ChainsInFlight<>(5, "prompt");
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> chains.add(
        CompletableFuture.failedFuture(new RuntimeException("boom")), new Instant(0), W, r -> { }));
    assertEquals("a prompt's chain failed unexpectedly", e.getMessage());
    assertEquals("boom", e.getCause().getMessage());
  }
}

package dev.moaa.transforms.budget;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CallLedgerTest {
  @TempDir Path dir;

  private BudgetSpec spec(String launch, double maxUsd) {
    return BudgetSpec.of(maxUsd, 0, 100).forFolder("folder-1", launch, dir.toString());
  }

  @Test
  void givenIntentsAndOutcomes_sumsRequestsTokensAndCostPerLaunchKindAndModel() throws Exception {
    CallLedger l = CallLedger.acquire(spec("L1", 0));
    long a = l.intent("L1", "p1", CallLedger.CALL, null, 0.01);
    l.outcome(a, "L1", "p1", "ok", 10, 5, 2, false, 0.002);
    long b = l.intent("L1", "agg", CallLedger.CALL, null, 0.02);
    l.outcome(b, "L1", "agg", "server_error", 0, 0, 0, false, 0);
    long c = l.intent("L1", "agg", CallLedger.PROBE, null, 0.001);
    l.outcome(c, "L1", "agg", "ok", 3, 1, 0, false, 0.0001);
    long d = l.intent("L1", "p1", CallLedger.CALL, null, 0.03);
    l.outcome(d, "L1", "p1", "timeout", 0, 0, 0, false, 0);
    CallLedger.release(l);

    CallLedger.Summary s = CallLedger.read(dir);
    CallLedger.Totals all = s.all();
    assertEquals(4, all.requests());
    assertEquals(3, all.answered());
    assertEquals(1, all.inDoubt(), "a timed-out request was possibly billed");
    assertEquals(13, all.promptTokens());
    assertEquals(6, all.completionTokens());
    assertEquals(2100, all.costMicroUsd());
    assertEquals(30_000, all.inDoubtWorstMicroUsd(), "a request in doubt counts at its worst case");
    assertEquals(3, s.select("L1", CallLedger.CALL).requests());
    assertEquals(1, s.select("L1", CallLedger.PROBE).requests());
    assertEquals(2, s.byModel("L1", CallLedger.CALL).get("p1").requests());
    assertEquals(0, s.before("L1").requests());
  }

  @Test
  void givenAProcessKilledWithRequestsInFlight_theirIntentsAreInDoubt_andATornLastLineIsSkipped() throws Exception {
    CallLedger l = CallLedger.acquire(spec("L1", 0));
    long a = l.intent("L1", "p1", CallLedger.CALL, null, 0.5);
    l.outcome(a, "L1", "p1", "ok", 10, 10, 0, false, 0.1);
    l.intent("L1", "p1", CallLedger.CALL, null, 0.5); // the process dies here, the request was sent
    CallLedger.release(l);
    try (var files = Files.list(dir)) {
      Path f = files.filter(p -> p.toString().endsWith(".jsonl")).findFirst().orElseThrow();
      Files.writeString(f, "{\"t\":\"outcome\",\"id\":2,\"la", StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    }
    CallLedger.Totals t = CallLedger.read(dir).all();
    assertEquals(2, t.requests());
    assertEquals(1, t.inDoubt());
    assertEquals(500_000, t.inDoubtWorstMicroUsd());
    assertEquals(100_000, t.costMicroUsd());
  }

  @Test
  void givenNoBudgetStop_aLaterLaunchStartsFromWhatTheFolderSpent() throws Exception {
    CallLedger l = CallLedger.acquire(spec("L1", 0));
    long id = l.intent("L1", "p1", CallLedger.CALL, null, 0.5);
    l.outcome(id, "L1", "p1", "ok", 100, 100, 0, false, 0.25);
    l.intent("L1", "p1", CallLedger.CALL, null, 0.1); // in doubt: counted at its worst case
    CallLedger.release(l);
    BudgetLedger next = BudgetLedger.acquire(spec("L2", 1.0));
    try {
      assertFalse(next.closed());
      assertEquals(0.35, next.spentUsd(), 1e-9);
      assertTrue(next.reserve(0.65, 1) != null);
      assertEquals(null, next.reserve(0.01, 1));
    } finally {
      BudgetLedger.release(next);
    }
  }

  @Test
  void givenManyThreadsAndTwoProcessesFiles_everyRequestIsCountedOnce() throws Exception {
    CallLedger l = CallLedger.acquire(spec("L1", 0));
    ExecutorService pool = Executors.newFixedThreadPool(8);
    List<Future<?>> done = new ArrayList<>();
    for (int i = 0; i < 2000; i++) {
      done.add(pool.submit(() -> {
        long id = l.intent("L1", "p1", CallLedger.CALL, null, 0.001);
        l.outcome(id, "L1", "p1", "ok", 1, 1, 0, false, 0.000001);
      }));
    }
    for (Future<?> f : done) {
      f.get();
    }
    pool.shutdown();
    assertTrue(pool.awaitTermination(10, TimeUnit.SECONDS));
    CallLedger.release(l);
    // a second process's file in the same folder (another TaskManager, a rerun)
    CallLedger other = CallLedger.acquire(spec("L2", 0));
    long id = other.intent("L2", "p1", CallLedger.CALL, null, 0.001);
    other.outcome(id, "L2", "p1", "ok", 1, 1, 0, false, 0.000001);
    CallLedger.release(other);
    CallLedger.Summary s = CallLedger.read(dir);
    assertEquals(2001, s.all().requests());
    assertEquals(0, s.all().inDoubt());
    assertEquals(2000, s.before("L2").requests());
    assertEquals(1, s.before("L1").requests());
  }

  @Test
  void givenABudgetStopAtALimit_aLaterLaunchAtTheSameLimitStartsClosed_andARaisedOneStartsFromWhatWasSpent()
      throws Exception {
    CallLedger l = CallLedger.acquire(spec("L1", 1.0));
    long id = l.intent("L1", "p1", CallLedger.CALL, null, 0.5);
    l.outcome(id, "L1", "p1", "ok", 100, 100, 0, false, 0.75);
    l.budgetClosed("L1", 1.0, 0);
    CallLedger.release(l);

    BudgetLedger same = BudgetLedger.acquire(spec("L2", 1.0));
    try {
      assertTrue(same.closed(), "not raised: nothing fits");
      assertEquals(null, same.reserve(0.000001, 1));
    } finally {
      BudgetLedger.release(same);
    }
    BudgetLedger raised = BudgetLedger.acquire(spec("L3", 1.5));
    try {
      assertFalse(raised.closed());
      assertEquals(1.0, raised.spentUsd(), 1e-9, "a stopped budget counts as spent up to its limit, not 0.75");
      assertTrue(raised.reserve(0.5, 1) != null, "the raise of 0.5 fits");
      assertEquals(null, raised.reserve(0.01, 1), "nothing beyond the raise");
    } finally {
      BudgetLedger.release(raised);
    }
  }
}

package dev.moaa.transforms.budget;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class BudgetLedgerTest {

  @Test
  void aCallIsRefusedWhenSpentPlusInFlightPlusItCouldPassTheLimit_andTheLedgerStaysClosed() {
    BudgetLedger l = new BudgetLedger(BudgetSpec.of(1.0, 0, 100));
    BudgetLedger.Reservation a = l.reserve(0.4, 10);
    BudgetLedger.Reservation b = l.reserve(0.4, 10);
    assertNotNull(a);
    assertNotNull(b);
    assertNull(l.reserve(0.3, 10), "0.4 + 0.4 in flight + 0.3 could pass 1.0");
    l.settle(a, 0.1, 5);
    l.settle(b, 0.1, 5);
    assertNull(l.reserve(0.01, 1), "once a call did not fit, no later call is sent");
    assertTrue(l.closed());
    assertEquals(0.2, l.spentUsd(), 1e-12);
    assertEquals(10, l.spentTokens());
    assertEquals(2, l.refused());
  }

  @Test
  void aTokenLimitWorksTheSameWay_andAFailedCallCostsNothing() {
    BudgetLedger l = new BudgetLedger(BudgetSpec.of(0, 1000, 100));
    BudgetLedger.Reservation a = l.reserve(0, 600);
    l.settle(a, 0, 0);
    assertNotNull(l.reserve(0, 900));
    assertNull(l.reserve(0, 200));
  }

  @Test
  void runsAreKeptApartByRunId() {
    BudgetSpec s1 = BudgetSpec.of(1, 0, 1);
    BudgetSpec s2 = BudgetSpec.of(1, 0, 1);
    BudgetLedger l1 = BudgetLedger.acquire(s1);
    BudgetLedger l2 = BudgetLedger.acquire(s2);
    try {
      l1.settle(l1.reserve(0.9, 1), 0.9, 1);
      assertNotNull(l2.reserve(0.9, 1), "another run's spending does not count");
      assertTrue(l1 == BudgetLedger.acquire(s1), "the same run shares one ledger in a JVM");
      BudgetLedger.release(l1);
    } finally {
      BudgetLedger.release(l1);
      BudgetLedger.release(l2);
    }
  }
}

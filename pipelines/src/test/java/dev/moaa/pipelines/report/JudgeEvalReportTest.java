package dev.moaa.pipelines.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class JudgeEvalReportTest {

  @Test
  void fleissKappa_matchesAHandComputation() {
    // 4 items, 3 raters. Item votes: (c,c,c) (c,c,r) (r,r,r) (c,r,t)
    // P_i = (sum n_ij^2 - 3) / 6: 1, 1/3, 1, 0  -> Pbar = 7/12
    // category totals over 12 votes: c 6, r 5, t 1 -> Pe = (36+25+1)/144 = 62/144
    // kappa = (7/12 - 62/144) / (1 - 62/144) = (84-62)/(144-62) = 22/82
    List<List<String>> items = new ArrayList<>();
    items.add(List.of("chosen", "chosen", "chosen"));
    items.add(List.of("chosen", "chosen", "rejected"));
    items.add(List.of("rejected", "rejected", "rejected"));
    items.add(List.of("chosen", "rejected", "tie"));
    assertEquals(22.0 / 82.0, JudgeEvalReport.fleissKappa(items), 1e-12);
  }

  @Test
  void fleissKappa_isUndefinedForOneRater_andOneWhenAllAgreeOnOneCategory() {
    assertNull(JudgeEvalReport.fleissKappa(List.of(List.of("chosen"))));
    assertEquals(1.0, JudgeEvalReport.fleissKappa(List.of(List.of("tie", "tie"), List.of("tie", "tie"))));
  }

  @Test
  void outcome_mapsPositionalVerdictsBackToTheLabel() {
    assertEquals("chosen", JudgeEvalReport.outcome("A", 0));
    assertEquals("rejected", JudgeEvalReport.outcome("A", 1));
    assertEquals("chosen", JudgeEvalReport.outcome("B", 1));
    assertEquals("tie", JudgeEvalReport.outcome("TIE", 1));
    assertNull(JudgeEvalReport.outcome(null, 0));
  }

  @Test
  void headToHead_countsTiesAndFlipsAsHalf_withADeterministicIntervalAroundTheRate() {
    List<String[]> outcomes = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      outcomes.add(new String[] {"chosen", "chosen"});
    }
    outcomes.add(new String[] {"rejected", "rejected"});
    outcomes.add(new String[] {"rejected", "rejected"});
    outcomes.add(new String[] {"tie", "tie"});
    outcomes.add(new String[] {"chosen", "rejected"});
    outcomes.add(new String[] {null, "chosen"});
    com.fasterxml.jackson.databind.node.ObjectNode h = JudgeEvalReport.headToHead(outcomes);
    assertEquals(10, h.path("pairs").asInt(), "the unreadable pair is left out");
    assertEquals(6, h.path("wins").asInt());
    assertEquals(2, h.path("losses").asInt());
    assertEquals(1, h.path("ties").asInt());
    assertEquals(1, h.path("inconsistent").asInt());
    assertEquals(0.7, h.path("win_rate").asDouble(), 1e-12);
    double low = h.path("ci95_low").asDouble();
    double high = h.path("ci95_high").asDouble();
    org.junit.jupiter.api.Assertions.assertTrue(low < 0.7 && 0.7 < high && low >= 0.3 && high <= 1.0, h.toString());
    assertEquals(h, JudgeEvalReport.headToHead(outcomes), "the same judgments give the same interval");

    List<String[]> allWon = List.of(new String[] {"chosen", "chosen"}, new String[] {"chosen", "chosen"});
    assertEquals(1.0, JudgeEvalReport.headToHead(allWon).path("ci95_low").asDouble());
    assertNull(JudgeEvalReport.headToHead(List.of()).get("win_rate").numberValue());
  }
}

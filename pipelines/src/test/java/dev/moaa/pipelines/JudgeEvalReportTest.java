package dev.moaa.pipelines;

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
}

package dev.moaa.transforms.dpo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.schemas.Judgment;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

class PreferenceScoringTest {

  /** Judgments of every ordered pair of {@code n} candidates; {@code verdict(first, second)} gives A, B or TIE. */
  private static List<Judgment> judge(int n, BiFunction<Integer, Integer, String> verdict) {
    List<Judgment> out = new ArrayList<>();
    for (int a = 0; a < n; a++) {
      for (int b = 0; b < n; b++) {
        if (a != b) {
          out.add(new Judgment("p", a, b, verdict.apply(a, b), List.of(), null));
        }
      }
    }
    return out;
  }

  private static final List<Integer> THREE = List.of(0, 1, 2);

  @Test
  void consistentVerdicts_giveWinRates_andBestAndWorst() {
    // the higher index is better, whatever the order
    PreferenceScoring.Outcome o = PreferenceScoring.score(THREE, judge(3, (a, b) -> a > b ? "A" : "B"), ScoringMethod.WIN_RATE, 0);
    assertFalse(o.dropped());
    assertEquals(2, o.chosen());
    assertEquals(0, o.rejected());
    assertEquals(1.0, o.scores().get(2));
    assertEquals(0.5, o.scores().get(1));
    assertEquals(0.0, o.scores().get(0));
    assertEquals(0, o.inconsistentPairs());
    assertTrue(o.pairs().stream().allMatch(p -> p.getConsistent()));
  }

  @Test
  void aJudgeThatAlwaysSaysA_isPositionInconsistentEverywhere_andThePromptIsDropped() {
    PreferenceScoring.Outcome o = PreferenceScoring.score(THREE, judge(3, (a, b) -> "A"), ScoringMethod.WIN_RATE, 0);
    assertTrue(o.dropped());
    assertEquals(PreferenceScoring.POSITION_INCONSISTENT, o.dropReason());
    assertEquals(3, o.inconsistentPairs());
  }

  @Test
  void consistentTiesEverywhere_areDroppedAsAllTies() {
    PreferenceScoring.Outcome o = PreferenceScoring.score(THREE, judge(3, (a, b) -> "TIE"), ScoringMethod.WIN_RATE, 0);
    assertEquals(PreferenceScoring.ALL_TIES, o.dropReason());
  }

  @Test
  void aCycle_hasNoMargin() {
    // 0 beats 1, 1 beats 2, 2 beats 0, consistently: all scores 0.5
    PreferenceScoring.Outcome o = PreferenceScoring.score(THREE, judge(3, (a, b) -> {
      int winner = (a + 1) % 3 == b ? a : (b + 1) % 3 == a ? b : -1;
      return winner == a ? "A" : "B";
    }), ScoringMethod.WIN_RATE, 0);
    assertEquals(PreferenceScoring.NO_MARGIN, o.dropReason());
  }

  @Test
  void aMarginBelowTheThreshold_isDropped_andEqualScoresBreakTiesByIndex() {
    // only pair (0,1) is decided: 1 wins; the others tie -> scores 0: .25, 1: .75, 2: .5
    List<Judgment> j = judge(3, (a, b) -> a == 1 && b == 0 ? "A" : a == 0 && b == 1 ? "B" : "TIE");
    PreferenceScoring.Outcome kept = PreferenceScoring.score(THREE, j, ScoringMethod.WIN_RATE, 0.5);
    assertEquals(1, kept.chosen());
    assertEquals(0, kept.rejected());
    assertEquals(PreferenceScoring.BELOW_MARGIN, PreferenceScoring.score(THREE, j, ScoringMethod.WIN_RATE, 0.6).dropReason());
    // two candidates that tie with a third that loses to both: chosen is the lower index
    PreferenceScoring.Outcome tied = PreferenceScoring.score(THREE,
        judge(3, (a, b) -> a == 2 ? "B" : b == 2 ? "A" : "TIE"), ScoringMethod.WIN_RATE, 0);
    assertEquals(0, tied.chosen());
    assertEquals(2, tied.rejected());
  }

  @Test
  void bradleyTerry_ordersLikeWinRates_andSumsToOne() {
    PreferenceScoring.Outcome o = PreferenceScoring.score(List.of(0, 1, 2, 3),
        judge(4, (a, b) -> a > b ? "A" : "B"), ScoringMethod.BRADLEY_TERRY, 0);
    assertEquals(3, o.chosen());
    assertEquals(0, o.rejected());
    double sum = o.scores().values().stream().mapToDouble(Double::doubleValue).sum();
    assertEquals(1.0, sum, 1e-9);
    assertTrue(o.scores().get(3) > o.scores().get(2) && o.scores().get(2) > o.scores().get(1)
        && o.scores().get(1) > o.scores().get(0));
  }
}

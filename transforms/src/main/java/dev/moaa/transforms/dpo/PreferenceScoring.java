package dev.moaa.transforms.dpo;

import dev.moaa.schemas.Judgment;
import dev.moaa.schemas.PairVerdict;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * From ordered-pair judgments to candidate scores and a preference pair. A pair's verdict counts
 * only when both orders name the same winner; otherwise it is a tie and is counted as
 * position-inconsistent. chosen = the highest score (lowest index on a tie), rejected = the lowest
 * score (highest index on a tie). A prompt is dropped when every pair is a tie, when the top and
 * bottom scores are equal, or when their margin is below the threshold.
 */
public final class PreferenceScoring {
  private PreferenceScoring() {}

  /** Why a prompt yields no preference pair. */
  public static final String POSITION_INCONSISTENT = "position_inconsistent";
  public static final String ALL_TIES = "all_ties";
  public static final String NO_MARGIN = "no_margin";
  public static final String BELOW_MARGIN = "margin_below_threshold";

  /** The scores and the pair, or the reason there is none. */
  public record Outcome(List<PairVerdict> pairs, Map<Integer, Double> scores, int chosen, int rejected,
      String dropReason, String detail, int inconsistentPairs) {
    public boolean dropped() {
      return dropReason != null;
    }
  }

  public static Outcome score(List<Integer> candidates, List<Judgment> judgments, ScoringMethod method, double minMargin) {
    Map<Long, Judgment> byOrder = new HashMap<>();
    for (Judgment j : judgments) {
      byOrder.put(orderKey(j.getFirst(), j.getSecond()), j);
    }
    List<PairVerdict> pairs = new ArrayList<>();
    int inconsistent = 0;
    int decided = 0;
    for (int x = 0; x < candidates.size(); x++) {
      for (int y = x + 1; y < candidates.size(); y++) {
        int a = candidates.get(x);
        int b = candidates.get(y);
        Judgment ab = byOrder.get(orderKey(a, b));
        Judgment ba = byOrder.get(orderKey(b, a));
        if (ab == null || ba == null) {
          throw new IllegalArgumentException("pair (" + a + ", " + b + ") lacks a judgment in one order");
        }
        Integer wab = winner(ab.getVerdict(), a, b);
        Integer wba = winner(ba.getVerdict(), b, a);
        boolean consistent = java.util.Objects.equals(wab, wba);
        inconsistent += consistent ? 0 : 1;
        Integer w = consistent ? wab : null;
        decided += w == null ? 0 : 1;
        pairs.add(new PairVerdict(a, b, w, consistent, ab, ba));
      }
    }
    Map<Integer, Double> scores = method == ScoringMethod.BRADLEY_TERRY
        ? bradleyTerry(candidates, pairs) : winRates(candidates, pairs);
    if (decided == 0) {
      boolean allInconsistent = inconsistent == pairs.size();
      return new Outcome(pairs, scores, -1, -1, allInconsistent ? POSITION_INCONSISTENT : ALL_TIES,
          inconsistent + " of " + pairs.size() + " pairs were position-inconsistent; no pair had a winner", inconsistent);
    }
    int chosen = candidates.get(0);
    int rejected = candidates.get(0);
    for (int c : candidates) {
      if (scores.get(c) > scores.get(chosen)) {
        chosen = c;
      }
      if (scores.get(c) <= scores.get(rejected)) {
        rejected = c;
      }
    }
    double margin = scores.get(chosen) - scores.get(rejected);
    if (margin <= 1e-12) {
      return new Outcome(pairs, scores, -1, -1, NO_MARGIN, "every candidate has the same score", inconsistent);
    }
    if (margin < minMargin) {
      return new Outcome(pairs, scores, -1, -1, BELOW_MARGIN,
          String.format(java.util.Locale.ROOT, "margin %.4f < %.4f", margin, minMargin), inconsistent);
    }
    return new Outcome(pairs, scores, chosen, rejected, null, null, inconsistent);
  }

  private static long orderKey(int first, int second) {
    return ((long) first << 32) | (second & 0xffffffffL);
  }

  /** The candidate a verdict names when {@code first} was shown as A; null for a tie or no verdict. */
  static Integer winner(String verdict, int first, int second) {
    if (Verdicts.A.equals(verdict)) {
      return first;
    }
    if (Verdicts.B.equals(verdict)) {
      return second;
    }
    return null;
  }

  static Map<Integer, Double> winRates(List<Integer> candidates, List<PairVerdict> pairs) {
    Map<Integer, double[]> acc = new HashMap<>();
    for (int c : candidates) {
      acc.put(c, new double[2]);
    }
    for (PairVerdict p : pairs) {
      double[] a = acc.get(p.getA());
      double[] b = acc.get(p.getB());
      a[1]++;
      b[1]++;
      if (p.getWinner() == null) {
        a[0] += 0.5;
        b[0] += 0.5;
      } else {
        acc.get(p.getWinner())[0] += 1;
      }
    }
    Map<Integer, Double> out = new HashMap<>();
    acc.forEach((c, v) -> out.put(c, v[1] == 0 ? 0.5 : v[0] / v[1]));
    return out;
  }

  /**
   * Bradley–Terry strengths by the minorization–maximization iteration, a tie counting half a win
   * for each side and every played pair given 0.1 of a win each way so no strength reaches zero.
   */
  static Map<Integer, Double> bradleyTerry(List<Integer> candidates, List<PairVerdict> pairs) {
    int n = candidates.size();
    Map<Integer, Integer> pos = new HashMap<>();
    for (int i = 0; i < n; i++) {
      pos.put(candidates.get(i), i);
    }
    double[][] w = new double[n][n];
    for (PairVerdict p : pairs) {
      int a = pos.get(p.getA());
      int b = pos.get(p.getB());
      w[a][b] += 0.1;
      w[b][a] += 0.1;
      if (p.getWinner() == null) {
        w[a][b] += 0.5;
        w[b][a] += 0.5;
      } else if (p.getWinner() == p.getA()) {
        w[a][b] += 1;
      } else {
        w[b][a] += 1;
      }
    }
    double[] s = new double[n];
    java.util.Arrays.fill(s, 1.0 / n);
    for (int iter = 0; iter < 500; iter++) {
      double[] next = new double[n];
      double total = 0;
      for (int i = 0; i < n; i++) {
        double wins = 0;
        double denom = 0;
        for (int j = 0; j < n; j++) {
          if (i != j && w[i][j] + w[j][i] > 0) {
            wins += w[i][j];
            denom += (w[i][j] + w[j][i]) / (s[i] + s[j]);
          }
        }
        next[i] = denom == 0 ? s[i] : wins / denom;
        total += next[i];
      }
      for (int i = 0; i < n; i++) {
        next[i] /= total;
      }
      s = next;
    }
    Map<Integer, Double> out = new HashMap<>();
    for (int i = 0; i < n; i++) {
      out.put(candidates.get(i), s[i]);
    }
    return out;
  }
}

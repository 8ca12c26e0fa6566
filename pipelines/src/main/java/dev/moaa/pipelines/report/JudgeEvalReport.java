package dev.moaa.pipelines.report;

import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.RunManifest;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moaa.schemas.JudgeVote;
import dev.moaa.schemas.Judgment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The figures of a judge evaluation, from each labelled pair's two judgments: order AB (chosen shown
 * as answer A) and order BA (chosen shown as answer B).
 *
 * <ul>
 *   <li>accuracy: share of pairs whose verdict, consistent across both orders, names the chosen
 *       answer (an inconsistent pair or a consistent tie counts as not correct);
 *   <li>position consistency: share of pairs where both orders name the same winner (or both tie);
 *   <li>per judge: the same two figures from that judge's own votes;
 *   <li>Fleiss' kappa: agreement among the judges' votes over every judgment (each order of each
 *       pair is one item), categories chosen / rejected / tie; undefined (null) with one judge;
 *   <li>head to head ({@link #headToHead}): the first answer's win rate over the second, a tie or
 *       a verdict that flips with the order counting half, with a 95% bootstrap interval: what
 *       {@code moaa compare} reports when the first answer is one model's and the second another's.
 * </ul>
 */
public final class JudgeEvalReport {
  private JudgeEvalReport() {}

  /** One labelled pair and its judgments; candidate 0 is the chosen answer, 1 the rejected one. */
  public record PairResult(String id, String subset, Judgment ab, Judgment ba) {}

  /** What a verdict on an order means for the label: "chosen", "rejected", "tie", or null. */
  static String outcome(String verdict, int first) {
    if (verdict == null) {
      return null;
    }
    if (verdict.equals("TIE")) {
      return "tie";
    }
    int winner = verdict.equals("A") ? first : 1 - first;
    return winner == 0 ? "chosen" : "rejected";
  }

  /** The figures of a set of (AB, BA) verdict pairs. */
  record Score(int pairs, int correct, int consistent, int unreadable) {
    double accuracy() {
      return pairs == 0 ? 0 : (double) correct / pairs;
    }

    double consistency() {
      return pairs == 0 ? 0 : (double) consistent / pairs;
    }
  }

  static Score score(List<String[]> outcomes) {
    int correct = 0;
    int consistent = 0;
    int unreadable = 0;
    for (String[] o : outcomes) {
      if (o[0] == null || o[1] == null) {
        unreadable++;
        continue;
      }
      if (o[0].equals(o[1])) {
        consistent++;
        correct += o[0].equals("chosen") ? 1 : 0;
      }
    }
    return new Score(outcomes.size(), correct, consistent, unreadable);
  }

  /** Resamples of the bootstrap interval of the head-to-head win rate. */
  static final int RESAMPLES = 4000;

  /**
   * The head-to-head figures of (AB, BA) outcomes, candidate 0 ("chosen") against candidate 1: a
   * pair scores 1 when both orders prefer candidate 0, 0 when both prefer candidate 1, and 0.5
   * when both say tie or the orders disagree (position bias, not a preference). {@code win_rate}
   * is the mean score over the readable pairs, with a 95% percentile bootstrap interval
   * ({@value #RESAMPLES} resamples, a fixed seed: the same judgments give the same interval).
   */
  public static ObjectNode headToHead(List<String[]> outcomes) {
    List<Double> scores = new ArrayList<>();
    int wins = 0;
    int losses = 0;
    int ties = 0;
    int inconsistent = 0;
    for (String[] o : outcomes) {
      if (o[0] == null || o[1] == null) {
        continue;
      }
      if (o[0].equals(o[1])) {
        switch (o[0]) {
          case "chosen" -> {
            wins++;
            scores.add(1.0);
          }
          case "rejected" -> {
            losses++;
            scores.add(0.0);
          }
          default -> {
            ties++;
            scores.add(0.5);
          }
        }
      } else {
        inconsistent++;
        scores.add(0.5);
      }
    }
    ObjectNode h = new ObjectMapper().createObjectNode();
    int n = scores.size();
    h.put("pairs", n);
    h.put("wins", wins);
    h.put("losses", losses);
    h.put("ties", ties);
    h.put("inconsistent", inconsistent);
    if (n == 0) {
      h.putNull("win_rate");
      h.putNull("ci95_low");
      h.putNull("ci95_high");
      return h;
    }
    double mean = scores.stream().mapToDouble(Double::doubleValue).sum() / n;
    double[] means = new double[RESAMPLES];
    java.util.SplittableRandom random = new java.util.SplittableRandom(0x6d6f6161L + n);
    for (int r = 0; r < RESAMPLES; r++) {
      double sum = 0;
      for (int i = 0; i < n; i++) {
        sum += scores.get(random.nextInt(n));
      }
      means[r] = sum / n;
    }
    java.util.Arrays.sort(means);
    h.put("win_rate", mean);
    h.put("ci95_low", means[(int) Math.floor(0.025 * (RESAMPLES - 1))]);
    h.put("ci95_high", means[(int) Math.ceil(0.975 * (RESAMPLES - 1))]);
    return h;
  }

  public static ObjectNode build(List<PairResult> results, List<String> judges, Map<String, RunManifest.ModelUsage> usage,
      MoaaConfig config) {
    List<String[]> overall = new ArrayList<>();
    Map<String, List<String[]>> bySubset = new TreeMap<>();
    Map<String, List<String[]>> byJudge = new LinkedHashMap<>();
    judges.forEach(j -> byJudge.put(j, new ArrayList<>()));
    List<List<String>> items = new ArrayList<>();
    for (PairResult r : results) {
      String[] o = {outcome(r.ab().getVerdict(), r.ab().getFirst()), outcome(r.ba().getVerdict(), r.ba().getFirst())};
      overall.add(o);
      bySubset.computeIfAbsent(r.subset() == null ? "(none)" : r.subset(), s -> new ArrayList<>()).add(o);
      for (String j : judges) {
        byJudge.get(j).add(new String[] {vote(r.ab(), j), vote(r.ba(), j)});
      }
      for (Judgment jm : List.of(r.ab(), r.ba())) {
        List<String> item = new ArrayList<>();
        for (String j : judges) {
          item.add(vote(jm, j));
        }
        items.add(item);
      }
    }
    ObjectMapper json = new ObjectMapper();
    ObjectNode root = json.createObjectNode();
    Score all = score(overall);
    root.put("pairs", all.pairs());
    root.put("judge_mode", config.judge().mode().wireName());
    root.putPOJO("judges", judges);
    root.put("lead_judge", config.judge().lead() == null ? null : config.judge().lead().name());
    root.put("accuracy", all.accuracy());
    root.put("position_consistency", all.consistency());
    root.put("unreadable_pairs", all.unreadable());
    root.set("head_to_head", headToHead(overall));
    ObjectNode subsets = root.putObject("accuracy_by_subset");
    bySubset.forEach((s, list) -> {
      Score sc = score(list);
      ObjectNode n = subsets.putObject(s);
      n.put("pairs", sc.pairs());
      n.put("accuracy", sc.accuracy());
      n.put("position_consistency", sc.consistency());
    });
    ObjectNode perJudge = root.putObject("per_judge");
    byJudge.forEach((j, list) -> {
      Score sc = score(list);
      ObjectNode n = perJudge.putObject(j);
      n.put("accuracy", sc.accuracy());
      n.put("position_consistency", sc.consistency());
    });
    Double kappa = fleissKappa(items);
    if (kappa == null) {
      root.putNull("fleiss_kappa");
    } else {
      root.put("fleiss_kappa", kappa);
    }
    ObjectNode calls = root.putObject("calls");
    double cost = 0;
    for (Map.Entry<String, RunManifest.ModelUsage> e : usage.entrySet()) {
      var m = config.models().get(e.getKey());
      double c = m == null ? 0 : m.costUsd(e.getValue().promptTokens(), e.getValue().completionTokens());
      ObjectNode n = calls.putObject(e.getKey());
      n.put("calls", e.getValue().calls());
      n.put("failures", e.getValue().failures());
      n.put("prompt_tokens", e.getValue().promptTokens());
      n.put("completion_tokens", e.getValue().completionTokens());
      n.put("estimated_cost_usd", c);
      cost += c;
    }
    root.put("estimated_cost_usd", cost);
    return root;
  }

  private static String vote(Judgment j, String judge) {
    for (JudgeVote v : j.getVotes()) {
      if (v.getModel().equals(judge)) {
        return outcome(v.getVerdict(), j.getFirst());
      }
    }
    return null;
  }

  /**
   * Fleiss' kappa over items rated by the same raters; items with a missing rating are left out.
   * Null with fewer than two raters or no usable item; 1 when all agree on a single category.
   */
  static Double fleissKappa(List<List<String>> items) {
    List<String> categories = List.of("chosen", "rejected", "tie");
    int n = items.isEmpty() ? 0 : items.get(0).size();
    if (n < 2) {
      return null;
    }
    double sumP = 0;
    double[] totals = new double[categories.size()];
    int used = 0;
    for (List<String> item : items) {
      if (item.stream().anyMatch(java.util.Objects::isNull)) {
        continue;
      }
      used++;
      double agree = 0;
      for (int c = 0; c < categories.size(); c++) {
        String cat = categories.get(c);
        long k = item.stream().filter(cat::equals).count();
        totals[c] += k;
        agree += k * (k - 1);
      }
      sumP += agree / (n * (n - 1.0));
    }
    if (used == 0) {
      return null;
    }
    double pBar = sumP / used;
    double pe = 0;
    for (double t : totals) {
      double p = t / (used * (double) n);
      pe += p * p;
    }
    if (Math.abs(1 - pe) < 1e-12) {
      return 1.0;
    }
    return (pBar - pe) / (1 - pe);
  }

  /** The printed table. */
  public static String table(ObjectNode r) {
    StringBuilder b = new StringBuilder();
    b.append(String.format(Locale.ROOT, "judge-eval: %d pairs, mode %s%n", r.path("pairs").asInt(), r.path("judge_mode").asText()));
    b.append(String.format(Locale.ROOT, "  %-28s %9s %12s%n", "", "accuracy", "consistency"));
    b.append(String.format(Locale.ROOT, "  %-28s %9.3f %12.3f%n", "overall (final verdict)",
        r.path("accuracy").asDouble(), r.path("position_consistency").asDouble()));
    r.path("accuracy_by_subset").fields().forEachRemaining(e -> b.append(String.format(Locale.ROOT,
        "  %-28s %9.3f %12.3f%n", "subset " + e.getKey(), e.getValue().path("accuracy").asDouble(),
        e.getValue().path("position_consistency").asDouble())));
    r.path("per_judge").fields().forEachRemaining(e -> b.append(String.format(Locale.ROOT,
        "  %-28s %9.3f %12.3f%n", "judge " + e.getKey(), e.getValue().path("accuracy").asDouble(),
        e.getValue().path("position_consistency").asDouble())));
    b.append(String.format(Locale.ROOT, "  Fleiss' kappa among judges: %s%n",
        r.path("fleiss_kappa").isNull() ? "n/a (one judge)" : String.format(Locale.ROOT, "%.3f", r.path("fleiss_kappa").asDouble())));
    r.path("calls").fields().forEachRemaining(e -> b.append(String.format(Locale.ROOT,
        "  calls %-20s %6d  tokens in %8d out %8d%n", e.getKey(), e.getValue().path("calls").asLong(),
        e.getValue().path("prompt_tokens").asLong(), e.getValue().path("completion_tokens").asLong())));
    b.append(String.format(Locale.ROOT, "  estimated cost: $%.4f", r.path("estimated_cost_usd").asDouble()));
    return b.toString();
  }
}

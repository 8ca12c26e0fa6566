package dev.moaa.transforms.clean;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;

/**
 * An n-gram index over benchmark prompts that tells whether a text copies one of them.
 *
 * <p>Texts are compared as {@link TextNormalizer#words word} n-grams. A benchmark prompt of at
 * least {@code n} words is indexed by its n-grams; a shorter one by a single gram of its own length,
 * so a 7-word AlpacaEval instruction is still found verbatim inside a longer request. Prompts
 * under {@link #MIN_CONTAINED_WORDS} words ("What is Atlantis?", MT-Bench follow-ups such as "Can
 * you parallelize it?") would match far too much ordinary text that way: they match only a user
 * turn that is the same text after normalisation.
 *
 * <p>For a user turn and a benchmark prompt indexed with gram size k, let {@code c} be the number
 * of the turn's distinct k-grams found in the prompt. The overlap is the larger of {@code c / (the
 * turn's k-grams)} (the turn is mostly benchmark text) and {@code c / (the prompt's k-grams)} (the
 * prompt is mostly inside the turn); the turn is contaminated when the overlap reaches the
 * threshold. Thread-safe once built.
 */
public final class ContaminationIndex {
  /** Benchmark prompts with fewer words than this match only a whole user turn. */
  public static final int MIN_CONTAINED_WORDS = 6;

  private final int n;
  private final double threshold;
  private final List<BenchmarkPrompt> prompts;
  private final int[] gramCount;
  private final Map<Long, int[]> grams;
  private final Map<String, Integer> whole;
  private final int[] sizes;

  /** What a text matched. */
  public record Match(BenchmarkPrompt prompt, double overlap, int gramSize) {}

  private ContaminationIndex(List<BenchmarkPrompt> prompts, int n, double threshold) {
    if (n < 1) {
      throw new IllegalArgumentException("ngram must be at least 1, got " + n);
    }
    if (!(threshold > 0 && threshold <= 1)) {
      throw new IllegalArgumentException("threshold must be in (0, 1], got " + threshold);
    }
    this.n = n;
    this.threshold = threshold;
    this.prompts = List.copyOf(prompts);
    this.gramCount = new int[prompts.size()];
    Map<Long, List<Integer>> building = new HashMap<>();
    this.whole = new HashMap<>();
    Set<Integer> usedSizes = new TreeSet<>();
    for (int p = 0; p < prompts.size(); p++) {
      List<String> words = TextNormalizer.words(prompts.get(p).text());
      if (words.isEmpty()) {
        continue;
      }
      whole.putIfAbsent(String.join(" ", words), p);
      if (words.size() < MIN_CONTAINED_WORDS) {
        continue;
      }
      int k = Math.min(n, words.size());
      usedSizes.add(k);
      Set<Long> distinct = grams(words, k);
      gramCount[p] = distinct.size();
      for (long g : distinct) {
        building.computeIfAbsent(g, x -> new ArrayList<>(1)).add(p);
      }
    }
    this.grams = new HashMap<>(building.size() * 2);
    building.forEach((g, ps) -> grams.put(g, ps.stream().mapToInt(Integer::intValue).toArray()));
    this.sizes = usedSizes.stream().mapToInt(Integer::intValue).toArray();
  }

  public static ContaminationIndex of(List<BenchmarkPrompt> prompts, int n, double threshold) {
    return new ContaminationIndex(prompts, n, threshold);
  }

  public int size() {
    return prompts.size();
  }

  /** The best match of any of {@code turns} whose overlap reaches the threshold, if there is one. */
  public Optional<Match> match(List<? extends CharSequence> turns) {
    Match best = null;
    for (CharSequence turn : turns) {
      Match m = bestMatch(TextNormalizer.words(turn.toString()));
      if (m != null && (best == null || m.overlap() > best.overlap())) {
        best = m;
      }
    }
    return best != null && best.overlap() >= threshold ? Optional.of(best) : Optional.empty();
  }

  /** The highest overlap of one text with any benchmark prompt (ties: the earlier prompt), or null. */
  Match bestMatch(List<String> words) {
    if (words.isEmpty()) {
      return null;
    }
    Integer same = whole.get(String.join(" ", words));
    if (same != null) {
      return new Match(prompts.get(same), 1.0, words.size());
    }
    Match best = null;
    int bestP = Integer.MAX_VALUE;
    for (int k : sizes) {
      if (words.size() < k) {
        break;
      }
      Set<Long> mine = grams(words, k);
      Map<Integer, Integer> found = new HashMap<>();
      for (long g : mine) {
        int[] ps = grams.get(g);
        if (ps != null) {
          for (int p : ps) {
            found.merge(p, 1, Integer::sum);
          }
        }
      }
      for (Map.Entry<Integer, Integer> e : found.entrySet()) {
        int p = e.getKey();
        double overlap = Math.max(e.getValue() / (double) mine.size(), e.getValue() / (double) gramCount[p]);
        if (best == null || overlap > best.overlap() || overlap == best.overlap() && p < bestP) {
          best = new Match(prompts.get(p), overlap, k);
          bestP = p;
        }
      }
    }
    return best;
  }

  private static Set<Long> grams(List<String> words, int k) {
    Set<Long> out = new HashSet<>();
    for (int i = 0; i + k <= words.size(); i++) {
      out.add(Hashing64.ofWords(words, i, k));
    }
    return out;
  }

  public int ngram() {
    return n;
  }

  public double threshold() {
    return threshold;
  }
}

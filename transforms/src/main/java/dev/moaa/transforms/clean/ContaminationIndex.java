package dev.moaa.transforms.clean;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
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
 * <p>For a user turn and a benchmark prompt indexed with gram size k, the k-grams they share cover
 * some of the turn's words and some of the prompt's. The overlap is the larger of the two covered
 * shares: most of the turn is benchmark text, or most of the prompt is inside the turn. Word
 * coverage, unlike a count of shared grams, keeps a lightly edited prompt matched: one word added
 * or changed breaks up to k grams but leaves nearly every word inside some shared gram. The turn
 * is contaminated when the overlap reaches the threshold. Thread-safe once built.
 */
public final class ContaminationIndex {
  /** Benchmark prompts with fewer words than this match only a whole user turn. */
  public static final int MIN_CONTAINED_WORDS = 6;

  private final int n;
  private final double threshold;
  private final List<BenchmarkPrompt> prompts;
  private final int[] wordCount;
  /** gram hash → (prompt, position) pairs, flattened. */
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
    this.wordCount = new int[prompts.size()];
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
      wordCount[p] = words.size();
      for (int i = 0; i + k <= words.size(); i++) {
        List<Integer> at = building.computeIfAbsent(Hashing64.ofWords(words, i, k), x -> new ArrayList<>(2));
        at.add(p);
        at.add(i);
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
      Map<Integer, BitSet[]> covered = new HashMap<>();
      for (int i = 0; i + k <= words.size(); i++) {
        int[] at = grams.get(Hashing64.ofWords(words, i, k));
        if (at == null) {
          continue;
        }
        for (int a = 0; a < at.length; a += 2) {
          BitSet[] c = covered.computeIfAbsent(at[a], x -> new BitSet[] {new BitSet(), new BitSet()});
          c[0].set(i, i + k);
          c[1].set(at[a + 1], at[a + 1] + k);
        }
      }
      for (Map.Entry<Integer, BitSet[]> e : covered.entrySet()) {
        int p = e.getKey();
        double overlap = Math.max(e.getValue()[0].cardinality() / (double) words.size(),
            e.getValue()[1].cardinality() / (double) wordCount[p]);
        if (best == null || overlap > best.overlap() || overlap == best.overlap() && p < bestP) {
          best = new Match(prompts.get(p), overlap, k);
          bestP = p;
        }
      }
    }
    return best;
  }

  public int ngram() {
    return n;
  }

  public double threshold() {
    return threshold;
  }
}

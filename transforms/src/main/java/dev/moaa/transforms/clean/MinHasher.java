package dev.moaa.transforms.clean;

import java.util.Arrays;
import java.util.List;

/**
 * MinHash over word shingles, and the LSH banding that turns signatures into candidate pairs.
 *
 * <p>A text's shingles are its word {@value #SHINGLE}-grams (a shorter text is one shingle). A
 * signature holds {@value #PERMUTATIONS} minima, one per seeded hash; two texts agree on a given
 * position with probability equal to their Jaccard similarity. Signatures are cut into bands of
 * {@link #rowsPerBand} rows; texts that agree on a whole band are candidates, and a candidate pair
 * is then confirmed with the exact Jaccard of the shingle sets.
 */
public final class MinHasher {
  public static final int SHINGLE = 5;
  public static final int PERMUTATIONS = 128;
  private static final long[] SEEDS = new long[PERMUTATIONS];

  static {
    for (int i = 0; i < PERMUTATIONS; i++) {
      SEEDS[i] = Hashing64.mix(0x9e3779b97f4a7c15L * (i + 1));
    }
  }

  private MinHasher() {}

  /** Sorted, distinct shingle hashes of the words. */
  public static long[] shingles(List<String> words) {
    if (words.isEmpty()) {
      return new long[0];
    }
    int k = Math.min(SHINGLE, words.size());
    long[] out = new long[words.size() - k + 1];
    for (int i = 0; i < out.length; i++) {
      out[i] = Hashing64.ofWords(words, i, k);
    }
    return Arrays.stream(out).sorted().distinct().toArray();
  }

  public static long[] signature(long[] shingles) {
    long[] sig = new long[PERMUTATIONS];
    Arrays.fill(sig, Long.MAX_VALUE);
    for (long s : shingles) {
      for (int i = 0; i < PERMUTATIONS; i++) {
        long h = Hashing64.mix(s ^ SEEDS[i]);
        if (h < sig[i]) {
          sig[i] = h;
        }
      }
    }
    return sig;
  }

  /**
   * The exact Jaccard similarity of two sorted, distinct arrays when it is at least {@code
   * threshold}, else -1: the merge stops as soon as the shared elements left cannot reach the
   * threshold (most LSH candidates share little, so most merges stop early). Decides exactly as
   * {@code jaccard(a, b) >= threshold}.
   */
  public static double jaccardAtLeast(long[] a, long[] b, double threshold) {
    double jac = similarity(a, b, threshold);
    return jac >= threshold ? jac : -1;
  }

  /** Exact Jaccard similarity of two sorted, distinct arrays. */
  public static double jaccard(long[] a, long[] b) {
    return similarity(a, b, 0);
  }

  /** The Jaccard similarity, or -1 once the merge shows it is below {@code threshold} (0: never). */
  private static double similarity(long[] a, long[] b, double threshold) {
    if (a.length == 0 && b.length == 0) {
      return 1.0;
    }
    // common / (|a| + |b| - common) >= t  <=>  common >= t (|a| + |b|) / (1 + t)
    double need = threshold * (a.length + b.length) / (1 + threshold) - 1e-9;
    int i = 0;
    int j = 0;
    int common = 0;
    while (i < a.length && j < b.length) {
      if (common + Math.min(a.length - i, b.length - j) < need) {
        return -1;
      }
      if (a[i] == b[j]) {
        common++;
        i++;
        j++;
      } else if (a[i] < b[j]) {
        i++;
      } else {
        j++;
      }
    }
    return common / (double) (a.length + b.length - common);
  }

  /**
   * Rows per band for a similarity threshold: the most rows (fewest false candidates) that still
   * make a pair at the threshold a candidate with probability at least 0.99.
   */
  public static int rowsPerBand(double threshold) {
    for (int rows : new int[] {16, 8, 4, 2, 1}) {
      int bands = PERMUTATIONS / rows;
      double p = 1 - Math.pow(1 - Math.pow(threshold, rows), bands);
      if (p >= 0.99) {
        return rows;
      }
    }
    return 1;
  }

  /** One key per band: equal keys mean equal bands (up to hash collisions, which the Jaccard check removes). */
  public static long[] bandKeys(long[] signature, int rows) {
    long[] keys = new long[signature.length / rows];
    for (int b = 0; b < keys.length; b++) {
      long h = Hashing64.mix(b + 1L);
      for (int r = 0; r < rows; r++) {
        h = Hashing64.mix(h ^ signature[b * rows + r]);
      }
      keys[b] = h;
    }
    return keys;
  }
}

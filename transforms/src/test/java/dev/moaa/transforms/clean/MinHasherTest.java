package dev.moaa.transforms.clean;

import static org.junit.Assert.assertEquals;

import java.util.SplittableRandom;
import java.util.TreeSet;
import org.junit.Test;

public class MinHasherTest {
  private static long[] sortedDistinct(SplittableRandom r, int n, int range) {
    TreeSet<Long> s = new TreeSet<>();
    while (s.size() < n) {
      s.add((long) r.nextInt(range));
    }
    return s.stream().mapToLong(Long::longValue).toArray();
  }

  /** The early-stopping check decides exactly as the full Jaccard, and gives the same value when it passes. */
  @Test
  public void jaccardAtLeast_agreesWithJaccard_onEveryPair() {
    SplittableRandom r = new SplittableRandom(7);
    int passed = 0;
    for (int k = 0; k < 20_000; k++) {
      long[] a = sortedDistinct(r, r.nextInt(0, 16), 24);
      long[] b = sortedDistinct(r, r.nextInt(0, 16), 24);
      double t = new double[] {0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 1.0}[r.nextInt(7)];
      double full = MinHasher.jaccard(a, b);
      double fast = MinHasher.jaccardAtLeast(a, b, t);
      if (full >= t) {
        assertEquals("a pair at or above " + t, full, fast, 0.0);
        passed++;
      } else {
        assertEquals("a pair below " + t + " (" + full + ")", -1.0, fast, 0.0);
      }
    }
    org.junit.Assert.assertTrue("both outcomes were tried: " + passed, passed > 100 && passed < 19_900);
  }
}

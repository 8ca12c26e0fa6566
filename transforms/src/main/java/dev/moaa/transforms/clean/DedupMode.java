package dev.moaa.transforms.clean;

import java.util.Locale;

/** How duplicates within a corpus are removed. */
public enum DedupMode {
  /** No duplicate removal beyond equal ids. */
  OFF,
  /** Rows whose normalised user turns are equal. */
  EXACT,
  /** Exact duplicates, then rows whose shingle Jaccard similarity reaches the threshold. */
  NEAR;

  public static DedupMode parse(String s) {
    try {
      return valueOf(s.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("must be exact, near or off, got '" + s + "'");
    }
  }

  public String wireName() {
    return name().toLowerCase(Locale.ROOT);
  }
}

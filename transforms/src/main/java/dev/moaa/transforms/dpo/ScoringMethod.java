package dev.moaa.transforms.dpo;

import java.util.Locale;

/** How candidate scores are computed from the pair verdicts. */
public enum ScoringMethod {
  /** Share of a candidate's pairs it won; a tie counts one half. In [0, 1]. */
  WIN_RATE,
  /** Bradley–Terry strengths fitted to the verdicts (ties count half a win each way), summing to 1. */
  BRADLEY_TERRY;

  public String wireName() {
    return name().toLowerCase(Locale.ROOT);
  }

  public static ScoringMethod parse(String s) {
    try {
      return valueOf(s.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException | NullPointerException e) {
      throw new IllegalArgumentException("unknown scoring '" + s + "'; expected win_rate or bradley_terry");
    }
  }
}

package dev.moaa.transforms.dpo;

import java.util.Locale;

/** How the verdict on one ordered pair is reached. */
public enum JudgeMode {
  /** Each judge writes an evaluation; a lead judge reads them all and decides (the MoAA paper's). */
  MOA,
  /** Each judge decides; the majority of A/B votes wins, no majority is a tie (Verga et al. 2024). */
  JURY,
  /** One judge decides. */
  SINGLE;

  public String wireName() {
    return name().toLowerCase(Locale.ROOT);
  }

  public static JudgeMode parse(String s) {
    try {
      return valueOf(s.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException | NullPointerException e) {
      throw new IllegalArgumentException("unknown judge mode '" + s + "'; expected moa, jury or single");
    }
  }
}

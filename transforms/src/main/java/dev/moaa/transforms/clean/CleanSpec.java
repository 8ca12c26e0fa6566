package dev.moaa.transforms.clean;

import java.io.Serializable;
import java.util.List;

/**
 * What {@link CleanConversations} removes. Validated when built.
 *
 * @param dedup duplicate removal within the corpus
 * @param nearThreshold Jaccard similarity of word 5-gram shingles at or above which two rows are near duplicates
 * @param decontaminate whether rows that copy a benchmark prompt are dropped
 * @param benchmarks bundled benchmark names ({@link BenchmarkPrompts#names()})
 * @param extraPrompts prompts of user-added benchmark files, read when the config is loaded
 * @param ngram word n-gram size of the contamination check
 * @param contaminationThreshold n-gram overlap share at or above which a row is contaminated
 */
public record CleanSpec(DedupMode dedup, double nearThreshold, boolean decontaminate, List<String> benchmarks,
    List<BenchmarkPrompt> extraPrompts, int ngram, double contaminationThreshold) implements Serializable {
  public static final double DEFAULT_NEAR_THRESHOLD = 0.8;
  public static final int DEFAULT_NGRAM = 8;
  public static final double DEFAULT_CONTAMINATION_THRESHOLD = 0.5;

  public CleanSpec {
    if (dedup == null) {
      throw new IllegalArgumentException("dedup is required");
    }
    if (!(nearThreshold >= 0.5 && nearThreshold <= 1)) {
      throw new IllegalArgumentException("near_threshold must be from 0.5 to 1, got " + nearThreshold);
    }
    if (ngram < 1 || ngram > 50) {
      throw new IllegalArgumentException("ngram must be from 1 to 50, got " + ngram);
    }
    if (!(contaminationThreshold > 0 && contaminationThreshold <= 1)) {
      throw new IllegalArgumentException("contamination_threshold must be above 0 and at most 1, got " + contaminationThreshold);
    }
    benchmarks = List.copyOf(benchmarks);
    extraPrompts = List.copyOf(extraPrompts);
    for (String b : benchmarks) {
      if (!BenchmarkPrompts.names().contains(b)) {
        throw new IllegalArgumentException("unknown benchmark '" + b + "'; bundled: " + BenchmarkPrompts.names());
      }
    }
    if (decontaminate && benchmarks.isEmpty() && extraPrompts.isEmpty()) {
      throw new IllegalArgumentException("decontaminate is on but no benchmark is named");
    }
  }

  /** Near-duplicate removal at Jaccard 0.8, decontamination against every bundled benchmark with 8-grams at 0.5. */
  public static CleanSpec defaults() {
    return new CleanSpec(DedupMode.NEAR, DEFAULT_NEAR_THRESHOLD, true, BenchmarkPrompts.ALL, List.of(),
        DEFAULT_NGRAM, DEFAULT_CONTAMINATION_THRESHOLD);
  }

  /** Nothing removed beyond equal ids. */
  public static CleanSpec off() {
    return new CleanSpec(DedupMode.OFF, DEFAULT_NEAR_THRESHOLD, false, List.of(), List.of(),
        DEFAULT_NGRAM, DEFAULT_CONTAMINATION_THRESHOLD);
  }

  public CleanSpec withDedup(DedupMode mode) {
    return new CleanSpec(mode, nearThreshold, decontaminate, benchmarks, extraPrompts, ngram, contaminationThreshold);
  }

  public CleanSpec withDecontaminate(boolean on) {
    return new CleanSpec(dedup, nearThreshold, on, benchmarks, extraPrompts, ngram, contaminationThreshold);
  }

  public CleanSpec withExtraPrompts(List<BenchmarkPrompt> prompts) {
    return new CleanSpec(dedup, nearThreshold, decontaminate, benchmarks, prompts, ngram, contaminationThreshold);
  }

  /** Every prompt this spec checks against: the bundled sets named, then the user's. */
  public List<BenchmarkPrompt> allPrompts() {
    List<BenchmarkPrompt> all = new java.util.ArrayList<>(BenchmarkPrompts.bundled(benchmarks));
    all.addAll(extraPrompts);
    return all;
  }
}

package dev.moaa.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.transforms.clean.BenchmarkPrompt;
import dev.moaa.transforms.clean.BenchmarkPrompts;
import dev.moaa.transforms.clean.CleanSpec;
import dev.moaa.transforms.clean.DedupMode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The {@code clean:} section: duplicate removal and benchmark decontamination before any model call.
 *
 * <pre>
 * clean:
 *   dedup: near                 # exact | near | off
 *   near_threshold: 0.8         # Jaccard of word 5-gram shingles (MinHash LSH, confirmed exactly)
 *   decontaminate: true
 *   benchmarks: [alpaca_eval, arena_hard, mt_bench]   # bundled; arena_hard_v0.1 / arena_hard_v2.0 also accepted
 *   extra_benchmarks: [my_eval.jsonl]                 # JSONL: prompt | instruction | turns per line
 *   ngram: 8                    # word n-gram size (shorter benchmark prompts use their own length)
 *   contamination_threshold: 0.5
 * </pre>
 *
 * Extra benchmark files are read when the config is loaded (relative to the config's folder), so a
 * bad file fails before the pipeline is built and the prompts travel with the job.
 */
final class CleanSettings {
  private static final Set<String> FIELDS = Set.of("dedup", "near_threshold", "decontaminate", "benchmarks",
      "extra_benchmarks", "ngram", "contamination_threshold");

  private CleanSettings() {}

  static CleanSpec parse(JsonNode n, Path baseDir) {
    CleanSpec d = CleanSpec.defaults();
    if (n.isMissingNode() || n.isNull()) {
      return d;
    }
    MoaaConfig.onlyKnown(n, "clean", FIELDS);
    DedupMode dedup = d.dedup();
    if (n.has("dedup")) {
      JsonNode v = n.get("dedup");
      // YAML reads a bare `off` as the boolean false
      String s = v.isBoolean() && !v.asBoolean() ? "off" : v.isTextual() ? v.asText() : null;
      if (s == null) {
        throw new ConfigException("clean.dedup", "must be exact, near or off, got " + v);
      }
      try {
        dedup = DedupMode.parse(s);
      } catch (IllegalArgumentException e) {
        throw new ConfigException("clean.dedup", e.getMessage());
      }
    }
    double near = fraction(n, "near_threshold", 0.5, d.nearThreshold());
    boolean decontaminate = d.decontaminate();
    if (n.has("decontaminate")) {
      if (!n.get("decontaminate").isBoolean()) {
        throw new ConfigException("clean.decontaminate", "must be true or false, got " + n.get("decontaminate"));
      }
      decontaminate = n.get("decontaminate").asBoolean();
    }
    List<String> benchmarks = d.benchmarks();
    if (n.has("benchmarks")) {
      JsonNode b = n.get("benchmarks");
      if (!b.isArray()) {
        throw new ConfigException("clean.benchmarks", "must be a list of benchmark names " + BenchmarkPrompts.names());
      }
      benchmarks = new ArrayList<>();
      for (int i = 0; i < b.size(); i++) {
        String name = b.get(i).asText();
        if (!b.get(i).isTextual() || !BenchmarkPrompts.names().contains(name)) {
          throw new ConfigException("clean.benchmarks[" + i + "]",
              "unknown benchmark " + b.get(i) + "; bundled: " + BenchmarkPrompts.names());
        }
        benchmarks.add(name);
      }
    }
    List<BenchmarkPrompt> extra = new ArrayList<>();
    if (n.has("extra_benchmarks")) {
      JsonNode e = n.get("extra_benchmarks");
      if (!e.isArray()) {
        throw new ConfigException("clean.extra_benchmarks", "must be a list of JSONL file paths");
      }
      for (int i = 0; i < e.size(); i++) {
        String path = "clean.extra_benchmarks[" + i + "]";
        if (!e.get(i).isTextual() || e.get(i).asText().isBlank()) {
          throw new ConfigException(path, "must be a file path");
        }
        try {
          extra.addAll(BenchmarkPrompts.fromFile(baseDir.resolve(e.get(i).asText())));
        } catch (IllegalArgumentException ex) {
          throw new ConfigException(path, ex.getMessage());
        }
      }
    }
    int ngram = MoaaConfig.intIn(n, "ngram", "clean", 1, 50, d.ngram());
    double contamination = fraction(n, "contamination_threshold", 0.01, d.contaminationThreshold());
    try {
      return new CleanSpec(dedup, near, decontaminate, benchmarks, extra, ngram, contamination);
    } catch (IllegalArgumentException ex) {
      throw new ConfigException("clean", ex.getMessage());
    }
  }

  private static double fraction(JsonNode n, String field, double min, double dflt) {
    JsonNode v = n.get(field);
    if (v == null || v.isNull()) {
      return dflt;
    }
    if (!v.isNumber() || v.asDouble() < min || v.asDouble() > 1) {
      throw new ConfigException("clean." + field, "must be a number from " + min + " to 1, got " + v);
    }
    return v.asDouble();
  }
}

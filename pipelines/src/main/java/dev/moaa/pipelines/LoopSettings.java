package dev.moaa.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * The {@code loop:} section: what {@code moaa run} reads and where it writes.
 *
 * <pre>
 * loop:
 *   output: out/loop              # the loop's folder (or --output=DIR)
 *   sft_input: data/*.jsonl       # the SFT corpus: comma-separated globs or a list (or --sft-input=…)
 *   dpo_input: prompts/*.jsonl    # the DPO prompts (default: the SFT corpus; or --dpo-input=…)
 *   rounds: 2                     # self-improvement rounds (default 1; or --rounds=N)
 *   join_as: [proposer]           # round r >= 2: the roles of round r-1's model in the SFT mixture
 *                                 # (proposer, aggregator; default proposer)
 *   train_from: base              # round r >= 2 trains from the recipe's base model, or from
 *                                 # round r-1's model (previous); default base
 *   compare: {bench: arena_hard_v0.1, limit: 50}   # the head-to-head after each round (rounds > 1);
 *                                 # compare: {enabled: false} turns it off
 * </pre>
 *
 * <p>Relative local paths are resolved against the folder of the config file. An empty {@code
 * dpoInput} means the SFT corpus.
 */
public record LoopSettings(String output, List<String> sftInput, List<String> dpoInput, int rounds,
    List<String> joinAs, boolean trainFromPrevious, boolean compare, String compareBench, int compareLimit) {
  private static final Set<String> KEYS = Set.of("output", "sft_input", "dpo_input", "rounds", "join_as", "train_from",
      "compare");
  private static final Set<String> ROLES = Set.of("proposer", "aggregator");
  private static final Set<String> COMPARE = Set.of("enabled", "bench", "limit");

  static LoopSettings parse(JsonNode n, Path baseDir) {
    if (n.isMissingNode()) {
      return null;
    }
    String p = "loop";
    MoaaConfig.onlyKnown(n, p, KEYS);
    String output = n.has("output") ? resolve(baseDir, MoaaConfig.text(n, "output", p)) : null;
    List<String> sft = globs(n, "sft_input", baseDir);
    List<String> dpo = globs(n, "dpo_input", baseDir);
    int rounds = MoaaConfig.intIn(n, "rounds", p, 1, 100, 1);
    List<String> joinAs = new ArrayList<>();
    JsonNode j = n.get("join_as");
    if (j == null || j.isNull()) {
      joinAs.add("proposer");
    } else {
      (j.isArray() ? j : JsonNodeFactory.instance.arrayNode().add(j)).forEach(x -> joinAs.add(x.asText()));
      for (String role : joinAs) {
        if (!ROLES.contains(role)) {
          throw new ConfigException("loop.join_as", "roles are proposer and aggregator, got '" + role + "'");
        }
      }
      if (joinAs.isEmpty()) {
        throw new ConfigException("loop.join_as", "names no role");
      }
    }
    String from = n.has("train_from") ? MoaaConfig.text(n, "train_from", p) : "base";
    if (!from.equals("base") && !from.equals("previous")) {
      throw new ConfigException("loop.train_from", "must be base or previous, got '" + from + "'");
    }
    JsonNode c = n.path("compare");
    boolean compare = true;
    String bench = "arena_hard_v0.1";
    int limit = 50;
    if (!c.isMissingNode()) {
      MoaaConfig.onlyKnown(c, p + ".compare", COMPARE);
      compare = !c.has("enabled") || c.get("enabled").asBoolean(true);
      bench = c.has("bench") ? MoaaConfig.text(c, "bench", p + ".compare") : bench;
      limit = MoaaConfig.intIn(c, "limit", p + ".compare", 1, 100_000, limit);
    }
    return new LoopSettings(output, sft, dpo, rounds, List.copyOf(joinAs), from.equals("previous"), compare, bench,
        limit);
  }

  private static List<String> globs(JsonNode n, String field, Path baseDir) {
    JsonNode v = n.get(field);
    if (v == null || v.isNull()) {
      return List.of();
    }
    List<String> raw = new ArrayList<>();
    if (v.isTextual()) {
      raw.addAll(Arrays.asList(v.asText().split(",")));
    } else if (v.isArray()) {
      v.forEach(x -> raw.add(x.asText()));
    } else {
      throw new ConfigException("loop." + field, "must be a string of comma-separated globs or a list of globs");
    }
    List<String> out = raw.stream().map(String::trim).filter(s -> !s.isEmpty()).map(s -> resolve(baseDir, s)).toList();
    if (out.isEmpty()) {
      throw new ConfigException("loop." + field, "names no file");
    }
    return out;
  }

  /** A local path resolved against {@code baseDir}; URLs such as {@code gs://b/x} stay as they are. */
  static String resolve(Path baseDir, String path) {
    if (path.matches("[A-Za-z][A-Za-z0-9+.-]*://.*")) {
      return path;
    }
    return baseDir.resolve(path).normalize().toString();
  }
}

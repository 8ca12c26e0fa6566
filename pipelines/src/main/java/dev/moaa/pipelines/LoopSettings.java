package dev.moaa.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
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
 * </pre>
 *
 * <p>Relative local paths are resolved against the folder of the config file. An empty {@code
 * dpoInput} means the SFT corpus.
 */
public record LoopSettings(String output, List<String> sftInput, List<String> dpoInput) {
  private static final Set<String> KEYS = Set.of("output", "sft_input", "dpo_input");

  static LoopSettings parse(JsonNode n, Path baseDir) {
    if (n.isMissingNode()) {
      return null;
    }
    String p = "loop";
    MoaaConfig.onlyKnown(n, p, KEYS);
    String output = n.has("output") ? resolve(baseDir, MoaaConfig.text(n, "output", p)) : null;
    List<String> sft = globs(n, "sft_input", baseDir);
    List<String> dpo = globs(n, "dpo_input", baseDir);
    return new LoopSettings(output, sft, dpo);
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

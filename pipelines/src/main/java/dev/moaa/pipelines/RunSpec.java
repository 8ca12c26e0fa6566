package dev.moaa.pipelines;

import dev.moaa.transforms.input.InputFormat;
import java.util.Arrays;
import java.util.List;

/** Settings of one run that are not in the config file: inputs, output folder, row layout, shards. */
public record RunSpec(List<String> inputs, String output, InputFormat format, int shards) {
  public RunSpec {
    inputs = List.copyOf(inputs);
  }

  /**
   * The spec of a run reading {@code inputs} (comma-separated globs) into {@code output}; a null
   * format or shard count takes the config's {@code input.format} or {@code output.shards}.
   */
  public static RunSpec of(MoaaConfig config, String inputs, String output, InputFormat format, Integer shards) {
    List<String> globs = inputs == null ? List.of() : Arrays.stream(inputs.split(",")).map(String::trim)
        .filter(s -> !s.isEmpty()).toList();
    return new RunSpec(globs, output, format == null ? config.inputFormat() : format,
        shards == null ? config.shards() : shards);
  }

  /** The output folder with a trailing slash. */
  public String outputDir() {
    return output.endsWith("/") ? output : output + "/";
  }
}

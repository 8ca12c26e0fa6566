package dev.moaa.pipelines;

import dev.moaa.transforms.input.InputFormat;
import java.util.Arrays;
import java.util.List;

/** Settings of one run that are not in the config file: inputs, output folder, row layout, shards. */
public record RunSpec(List<String> inputs, String output, InputFormat format, int shards) {
  public static RunSpec of(MoaaConfig config, RunOptions options) {
    InputFormat format = options.getInputFormat() == null
        ? config.inputFormat() : InputFormat.parse(options.getInputFormat());
    int shards = options.getShards() == null ? config.shards() : options.getShards();
    List<String> inputs = Arrays.stream(options.getInput().split(",")).map(String::trim)
        .filter(s -> !s.isEmpty()).toList();
    return new RunSpec(inputs, options.getOutput(), format, shards);
  }

  /** The output folder with a trailing slash. */
  public String outputDir() {
    return output.endsWith("/") ? output : output + "/";
  }
}

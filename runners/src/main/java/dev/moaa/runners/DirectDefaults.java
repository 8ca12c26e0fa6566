package dev.moaa.runners;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Flags the DirectRunner needs to keep many LLM calls in flight. Its worker pool is a fixed pool
 * of {@code --targetParallelism} threads (default: the core count, at least 3) and a model-calling
 * step holds its thread until its bundle's calls are back, so with the default only a handful of
 * calls would be in flight. The default here is the sum of every model's {@code max_concurrency}
 * plus room for the steps that make no calls. The runner's element-cloning checks are turned off
 * (tests built on TestPipeline keep them). A flag the user gives always wins.
 */
public final class DirectDefaults {
  private DirectDefaults() {}

  public static String[] apply(String[] args, int totalModelConcurrency) {
    List<String> out = new ArrayList<>(Arrays.asList(args));
    boolean direct = out.stream().noneMatch(a -> a.startsWith("--runner="))
        || out.stream().anyMatch(a -> a.equals("--runner=DirectRunner") || a.equals("--runner=direct"));
    if (!direct) {
      return args;
    }
    if (out.stream().noneMatch(a -> a.startsWith("--targetParallelism="))) {
      int threads = Math.max(16, Math.min(2048, totalModelConcurrency + 16));
      out.add("--targetParallelism=" + threads);
    }
    // The DirectRunner's immutability and encodability checks clone every element and walk the
    // whole graph per bundle; they are for testing pipelines, not for running them.
    if (out.stream().noneMatch(a -> a.startsWith("--enforceImmutability="))) {
      out.add("--enforceImmutability=false");
    }
    if (out.stream().noneMatch(a -> a.startsWith("--enforceEncodability="))) {
      out.add("--enforceEncodability=false");
    }
    return out.toArray(String[]::new);
  }
}

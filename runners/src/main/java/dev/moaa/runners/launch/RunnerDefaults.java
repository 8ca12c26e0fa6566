package dev.moaa.runners.launch;

import dev.moaa.pipelines.ConfigException;
import dev.moaa.pipelines.JobEnd;
import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.transforms.client.ModelEndpoint;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The runner flags a MoAA run needs, added unless the user gave them (a flag the user gives always
 * wins).
 *
 * <p><b>DirectRunner.</b> Its worker pool is a fixed pool of {@code --targetParallelism} threads
 * (default: the core count, at least 3) and a model-calling step holds its thread until its
 * bundle's calls are back, so with the default only a handful of calls would be in flight. The
 * default here is the sum of every model's {@code max_concurrency} plus room for the steps that
 * make no calls. The runner's element-cloning checks are turned off (tests built on TestPipeline
 * keep them).
 *
 * <p><b>FlinkRunner.</b> Streaming mode ({@code --streaming=true}): Flink's batch mode ignores
 * triggers, so every group becomes a barrier between stages, and its plan optimizer does not finish
 * on the graph unrolled over turns and layers (measured: over ten minutes of planning for the quick
 * start). Bundles hold at most 64 elements ({@code --maxBundleSize=64}, Flink's default is
 * 1,000) and close after at most 1 s: a chain step waits at the end of its bundle for every chain
 * the bundle started, so a bundle bounds the chains in flight per worker, while bundles that close
 * too soon waste a chain's latency at each end (measured on W1 on a local cluster: 32 elements and
 * 200 ms left the endpoints a third idle for the first 4 s; 64 and 1 s keep them busy from the
 * first second). Elements pass between chained steps without a deep copy ({@code --fasterCopy=true}:
 * Beam's Flink runner otherwise copies every element through its coder at each step, for DoFns that
 * change their input, which Beam's model forbids and this product's tests check on the
 * DirectRunner; measured on W1 on a local cluster: 1.35 -> 1.26-1.30 of the bound). Checkpoints every 10 s let a job resume after a lost TaskManager from its last checkpoint
 * rather than from the start, with up to 3 restarts; sources that have read everything shut down
 * after 100 ms idle, or Beam would keep them (and the job) alive forever once checkpointing is on
 * (each source's wait delays the groups after it: 1 s idle cost W1 on a local cluster 2.7 s).
 * Relative {@code --input} globs and {@code --output} folders are made absolute: the TaskManagers
 * read and write them, and would resolve them against their own working directory.
 *
 * <p>On a Flink cluster named by {@code --flinkMaster=HOST:PORT} the job is submitted detached
 * ({@code --attachedMode=false}): the run then polls the job's state every 100 ms, where Flink's
 * attached client asks for the job's result at intervals that grow to 2 s and so learned of the
 * end up to 2 s late. And when that cluster holds this very jar on its class path (a cluster
 * started by {@code moaa flink-cluster start} from it), the job stages a jar without classes
 * ({@code --filesToStage}) instead of uploading the whole jar: see {@link JobJar}.
 */
public final class RunnerDefaults {
  private RunnerDefaults() {}

  /** Adds the runner flags (sized from the config for the DirectRunner); config errors are left to the command. */
  public static String[] withDirectDefaults(String[] args) {
    String config = Arrays.stream(args).filter(a -> a.startsWith("--config="))
        .map(a -> a.substring("--config=".length())).findFirst().orElse(null);
    if (config == null) {
      return args;
    }
    try {
      int total = MoaaConfig.load(Paths.get(config)).models().values().stream()
          .mapToInt(ModelEndpoint::maxConcurrency).sum();
      return apply(args, total);
    } catch (ConfigException | IllegalArgumentException e) {
      return args;
    }
  }

  public static String[] apply(String[] args, int totalModelConcurrency) {
    return apply(args, totalModelConcurrency, master -> {
      Optional<Path> staged = JobJar.running().flatMap(jar -> JobJar.stageFor(master, jar));
      staged.ifPresent(jar -> System.err.println("moaa: the Flink cluster at " + master
          + " holds this build's classes: the job ships no jar"));
      return staged;
    });
  }

  /**
   * As {@link #apply(String[], int)}, with {@code stageFor} naming the jar to stage for a
   * submission to a {@code HOST:PORT} Flink master (empty: Beam's default, the jars of the class path).
   */
  static String[] apply(String[] args, int totalModelConcurrency, Function<String, Optional<Path>> stageFor) {
    List<String> out = new ArrayList<>(Arrays.asList(args));
    String runner = out.stream().filter(a -> a.startsWith("--runner=")).map(a -> a.substring("--runner=".length()))
        .findFirst().orElse("DirectRunner");
    if (runner.equalsIgnoreCase("DirectRunner") || runner.equalsIgnoreCase("direct")) {
      addIfAbsent(out, "--targetParallelism=", String.valueOf(Math.max(16, Math.min(2048, totalModelConcurrency + 16))));
      addIfAbsent(out, "--enforceImmutability=", "false");
      addIfAbsent(out, "--enforceEncodability=", "false");
    } else if (runner.equalsIgnoreCase("FlinkRunner") || runner.equalsIgnoreCase("flink")) {
      absolutePaths(out);
      addIfAbsent(out, "--streaming=", "true");
      addIfAbsent(out, "--maxBundleSize=", "64");
      addIfAbsent(out, "--maxBundleTimeMills=", "1000");
      addIfAbsent(out, "--fasterCopy=", "true");
      boolean streaming = out.stream().anyMatch(a -> a.equals("--streaming=true") || a.equals("--streaming"));
      if (streaming) {
        addIfAbsent(out, "--checkpointingInterval=", "10000");
        addIfAbsent(out, "--numberOfExecutionRetries=", "3");
        addIfAbsent(out, "--executionRetryDelay=", "2000");
        // with checkpointing on, Beam keeps finished bounded sources alive forever (so the job
        // would never end); Flink 1.19 checkpoints after tasks finish, so let them finish
        addIfAbsent(out, "--shutdownSourcesAfterIdleMs=", "100");
      }
      Optional<String> master = JobEnd.flinkRestAddress(out.stream().filter(a -> a.startsWith("--flinkMaster="))
          .map(a -> a.substring("--flinkMaster=".length())).findFirst().orElse(null));
      if (master.isPresent()) {
        addIfAbsent(out, "--attachedMode=", "false");
        if (out.stream().noneMatch(a -> a.startsWith("--filesToStage="))) {
          stageFor.apply(master.get()).ifPresent(jar -> out.add("--filesToStage=" + jar));
        }
      }
    }
    return out.toArray(String[]::new);
  }

  private static void absolutePaths(List<String> args) {
    for (int i = 0; i < args.size(); i++) {
      String a = args.get(i);
      if (a.startsWith("--input=")) {
        args.set(i, "--input=" + Arrays.stream(a.substring("--input=".length()).split(",", -1))
            .map(String::trim).map(RunnerDefaults::absolute).collect(Collectors.joining(",")));
      } else if (a.startsWith("--output=")) {
        args.set(i, "--output=" + absolute(a.substring("--output=".length())));
      }
    }
  }

  /** A local path made absolute; empty strings and URLs such as {@code gs://b/x} stay as they are. */
  private static String absolute(String path) {
    if (path.isEmpty() || path.matches("[A-Za-z][A-Za-z0-9+.-]*:.*")) {
      return path;
    }
    Path p = Paths.get(path);
    return p.isAbsolute() ? path : p.toAbsolutePath().toString();
  }

  private static void addIfAbsent(List<String> args, String flag, String value) {
    if (args.stream().noneMatch(a -> a.startsWith(flag) || a.equals(flag.substring(0, flag.length() - 1)))) {
      args.add(flag + value);
    }
  }
}

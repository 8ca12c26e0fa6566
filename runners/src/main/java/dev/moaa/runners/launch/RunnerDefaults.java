package dev.moaa.runners.launch;

import dev.moaa.pipelines.JobEnd;
import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.RunSpec;
import dev.moaa.pipelines.RunTarget;
import dev.moaa.transforms.client.ModelEndpoint;
import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import org.apache.beam.runners.direct.DirectOptions;
import org.apache.beam.runners.direct.DirectRunner;
import org.apache.beam.runners.flink.FlinkPipelineOptions;
import org.apache.beam.runners.flink.FlinkRunner;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.options.ApplicationNameOptions;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;

/**
 * The runner options a MoAA run needs, set on Beam's typed options unless the user gave the flag (a
 * flag the user gives always wins); and which runner the options name ({@link #target}).
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
 * on this product's graphs (measured: over ten minutes of planning for the quick
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
 * Relative input globs and output folders are made absolute ({@link #forRunner}): the TaskManagers
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

  /**
   * Beam's options from the flags the command layer passed through ({@code --runner=FlinkRunner},
   * …), with this product's defaults for {@code config}'s models set on every option the user did
   * not give. A flag Beam does not know throws {@link IllegalArgumentException} (Beam's message).
   */
  public static PipelineOptions options(List<String> beamFlags, MoaaConfig config) {
    PipelineOptions options = parse(beamFlags);
    apply(options, given(beamFlags), totalConcurrency(config));
    return options;
  }

  /** Beam's options from its own flags, with only the object-storage defaults set ({@link ObjectStorage}). */
  public static PipelineOptions parse(List<String> beamFlags) {
    PipelineOptions options = PipelineOptionsFactory.fromArgs(beamFlags.toArray(String[]::new)).create();
    // at once, before anything registers the file systems (the corpus estimate does, before the
    // other defaults are set): Beam's own AWS region default asks the EC2 metadata service, 0.8 s
    // of every run here, local ones included
    ObjectStorage.apply(options, given(beamFlags));
    return options;
  }

  /**
   * Heap the DirectRunner needs per input row, roughly: it holds every group's whole input until the
   * input ends (measured: 100,000 prompts of W1's topology held 4.8 GB after a collection).
   */
  static final long DIRECT_HEAP_BYTES_PER_ROW = 50_000;

  /** Sets the row count above which a run leaves the DirectRunner (default: from the heap). */
  public static final String DIRECT_MAX_ROWS_PROPERTY = "moaa.directRunnerMaxRows";

  /** The most rows a DirectRunner run takes in this JVM: half the heap at {@link #DIRECT_HEAP_BYTES_PER_ROW}. */
  public static long directMaxRows() {
    Long set = Long.getLong(DIRECT_MAX_ROWS_PROPERTY);
    return set != null ? set : Runtime.getRuntime().maxMemory() / 2 / DIRECT_HEAP_BYTES_PER_ROW;
  }

  /**
   * For a run that named no runner: when its input holds more rows than the DirectRunner keeps in
   * this JVM's heap ({@link #directMaxRows}), switches {@code options} to Flink's embedded
   * mini-cluster in batch mode ({@code --runner=FlinkRunner --flinkMaster=[local] --streaming=false}, a
   * subtask per core unless {@code --parallelism} is given),
   * whose groups sort and spill to disk, and returns the line that says so; {@code given} then holds
   * those three names, so that {@link #apply} leaves them as set. Empty when nothing changed (a
   * runner given, a small corpus, or an input that cannot be listed, which the run reports itself).
   */
  public static Optional<String> chooseForCorpus(PipelineOptions options, Set<String> given, List<String> inputs) {
    return chooseForCorpus(options, given, estimate(options, inputs));
  }

  /**
   * The rows of {@code inputs} ({@link CorpusEstimate}), read through the file systems of {@code
   * options}; empty when the inputs cannot be listed (the run reports that itself).
   */
  public static Optional<CorpusEstimate> estimate(PipelineOptions options, List<String> inputs) {
    try {
      FileSystems.setDefaultPipelineOptions(options);
      return Optional.of(CorpusEstimate.of(inputs));
    } catch (IOException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /** Rows per shard that {@link #shardsFor} aims at. */
  public static final long ROWS_PER_SHARD = 250_000;

  /**
   * Shards per output for a corpus of {@code rows} when neither {@code --shards} nor {@code
   * output.shards} says: the default, or one per {@value #ROWS_PER_SHARD} rows for a larger corpus
   * (trainers read a dataset's files in parallel, one per process, and a file of gigabytes is slow
   * to move), at most 10,000.
   */
  public static int shardsFor(long rows, int defaultShards) {
    long byRows = (rows + ROWS_PER_SHARD - 1) / ROWS_PER_SHARD;
    return (int) Math.min(10_000, Math.max(defaultShards, byRows));
  }

  /** As {@link #chooseForCorpus(PipelineOptions, Set, List)} with the corpus already estimated. */
  public static Optional<String> chooseForCorpus(PipelineOptions options, Set<String> given,
      Optional<CorpusEstimate> estimate) {
    if (given.contains("runner") || !isDirect(options) || estimate.isEmpty()) {
      return Optional.empty();
    }
    CorpusEstimate corpus = estimate.get();
    long max = directMaxRows();
    if (corpus.rows() <= max) {
      return Optional.empty();
    }
    options.setRunner(FlinkRunner.class);
    FlinkPipelineOptions f = options.as(FlinkPipelineOptions.class);
    f.setFlinkMaster("[local]");
    f.setStreaming(false);
    given.addAll(List.of("runner", "flinkMaster", "streaming"));
    if (!given.contains("parallelism")) {
      // the mini-cluster's own default is one subtask per step: the clean step's comparisons
      // would use one core
      f.setParallelism(Math.max(1, Runtime.getRuntime().availableProcessors()));
      given.add("parallelism");
    }
    return Optional.of(String.format(Locale.ROOT, "%s: more than the %,d the DirectRunner holds in this"
        + " process's %s heap; running on Flink's embedded runner in batch mode, whose groups spill to disk"
        + " (--runner=DirectRunner keeps the DirectRunner)", corpus.describe(), max,
        CorpusEstimate.megabytes(Runtime.getRuntime().maxMemory())));
  }

  /** The sum of every model's {@code max_concurrency}: what the DirectRunner's pool is sized from. */
  public static int totalConcurrency(MoaaConfig config) {
    return config.models().values().stream().mapToInt(ModelEndpoint::maxConcurrency).sum();
  }

  /** The names ({@code runner}, {@code flinkMaster}, …) of {@code --name[=value]} flags. */
  public static Set<String> given(List<String> flags) {
    Set<String> names = new HashSet<>();
    for (String f : flags) {
      if (f.startsWith("--")) {
        int eq = f.indexOf('=');
        names.add(eq < 0 ? f.substring(2) : f.substring(2, eq));
      }
    }
    return names;
  }

  /** As {@link #apply(PipelineOptions, Set, int, Function)}, staging this jar's class-less twin on a cluster that holds it. */
  public static void apply(PipelineOptions options, Set<String> given, int totalModelConcurrency) {
    apply(options, given, totalModelConcurrency, master -> {
      Optional<Path> staged = JobJar.running().flatMap(jar -> JobJar.stageFor(master, jar));
      staged.ifPresent(jar -> System.err.println("moaa: the Flink cluster at " + master
          + " holds this build's classes: the job ships no jar"));
      return staged;
    });
  }

  /**
   * Sets the runner defaults on {@code options} for every option not named in {@code given}, with
   * {@code stageFor} naming the jar to stage for a submission to a {@code HOST:PORT} Flink master
   * (empty: Beam's default, the jars of the class path).
   */
  static void apply(PipelineOptions options, Set<String> given, int totalModelConcurrency,
      Function<String, Optional<Path>> stageFor) {
    if (!given.contains("appName") && !given.contains("jobName")) {
      // the job's name on a Flink cluster's web UI and REST API (Beam's default is the class that
      // created the options: "runnerdefaults-...")
      options.as(ApplicationNameOptions.class).setAppName("moaa");
    }
    ObjectStorage.apply(options, given);
    if (isDirect(options)) {
      DirectOptions d = options.as(DirectOptions.class);
      if (!given.contains("targetParallelism")) {
        d.setTargetParallelism(Math.max(16, Math.min(2048, totalModelConcurrency + 16)));
      }
      if (!given.contains("enforceImmutability")) {
        d.setEnforceImmutability(false);
      }
      if (!given.contains("enforceEncodability")) {
        d.setEnforceEncodability(false);
      }
    } else if (isFlink(options)) {
      FlinkPipelineOptions f = options.as(FlinkPipelineOptions.class);
      if (!given.contains("streaming")) {
        f.setStreaming(true);
      }
      if (!given.contains("maxBundleSize")) {
        f.setMaxBundleSize(64L);
      }
      if (!given.contains("maxBundleTimeMills")) {
        f.setMaxBundleTimeMills(1000L);
      }
      if (!given.contains("fasterCopy")) {
        f.setFasterCopy(true);
      }
      if (f.isStreaming()) {
        if (!given.contains("checkpointingInterval")) {
          f.setCheckpointingInterval(10000L);
        }
        if (!given.contains("numberOfExecutionRetries")) {
          f.setNumberOfExecutionRetries(3);
        }
        if (!given.contains("executionRetryDelay")) {
          f.setExecutionRetryDelay(2000L);
        }
        // with checkpointing on, Beam keeps finished bounded sources alive forever (so the job
        // would never end); Flink 1.19 checkpoints after tasks finish, so let them finish
        if (!given.contains("shutdownSourcesAfterIdleMs")) {
          f.setShutdownSourcesAfterIdleMs(100L);
        }
      }
      Optional<String> master = JobEnd.flinkRestAddress(given.contains("flinkMaster") ? f.getFlinkMaster() : null);
      if (master.isPresent()) {
        if (!given.contains("attachedMode")) {
          f.setAttachedMode(false);
        }
        if (!given.contains("filesToStage")) {
          stageFor.apply(master.get()).ifPresent(jar -> f.setFilesToStage(List.of(jar.toString())));
        }
      }
    }
  }

  /**
   * Sets {@code options} for a run that submits its job and returns ({@code --submitOnly}): Flink's
   * runner, detached, on a cluster: the one named by {@code --flinkMaster=HOST:PORT}, or, when the
   * jar's main runs inside a Flink cluster ({@code insideFlink}), that cluster (Flink's {@code [auto]}).
   *
   * @throws IllegalArgumentException for a runner or master that would run the job in this process
   */
  public static void submitOnly(PipelineOptions options, boolean insideFlink) {
    if (!isFlink(options)) {
      throw new IllegalArgumentException("--submitOnly hands the job to a Flink cluster: give --runner=FlinkRunner"
          + " --flinkMaster=HOST:PORT");
    }
    FlinkPipelineOptions f = options.as(FlinkPipelineOptions.class);
    String master = f.getFlinkMaster();
    if (insideFlink && !"[auto]".equals(master)) {
      throw new IllegalArgumentException("this run is inside a Flink cluster, which runs its job: leave out"
          + " --flinkMaster=" + master);
    }
    if (!insideFlink && JobEnd.flinkRestAddress(master).isEmpty()) {
      throw new IllegalArgumentException("--submitOnly hands the job to a Flink cluster: give --flinkMaster=HOST:PORT"
          + " (" + master + " runs it in this process)");
    }
    f.setAttachedMode(false);
  }

  /** Which runner {@code options} name, read from their types. */
  public static RunTarget target(PipelineOptions options) {
    if (isDirect(options)) {
      return new RunTarget("DirectRunner", true, null, 1);
    }
    if (isFlink(options)) {
      FlinkPipelineOptions f = options.as(FlinkPipelineOptions.class);
      return new RunTarget("FlinkRunner", false, f.getFlinkMaster(), f.getParallelism());
    }
    return new RunTarget(options.getRunner().getSimpleName(), false, null, 1);
  }

  /** The spec for the runner of {@code options}: on Flink, local paths made absolute (the TaskManagers resolve them). */
  public static RunSpec forRunner(RunSpec spec, PipelineOptions options) {
    if (!isFlink(options)) {
      return spec;
    }
    return new RunSpec(spec.inputs().stream().map(RunnerDefaults::absolute).toList(), absolute(spec.output()),
        spec.format(), spec.shards());
  }

  private static boolean isDirect(PipelineOptions options) {
    return options.getRunner() == null || DirectRunner.class.isAssignableFrom(options.getRunner());
  }

  private static boolean isFlink(PipelineOptions options) {
    return options.getRunner() != null && FlinkRunner.class.isAssignableFrom(options.getRunner());
  }

  /** A local path made absolute; empty strings and URLs such as {@code gs://b/x} stay as they are. */
  public static String absolute(String path) {
    if (path.isEmpty() || path.matches("[A-Za-z][A-Za-z0-9+.-]*:.*")) {
      return path;
    }
    Path p = Paths.get(path);
    return p.isAbsolute() ? path : p.toAbsolutePath().toString();
  }
}

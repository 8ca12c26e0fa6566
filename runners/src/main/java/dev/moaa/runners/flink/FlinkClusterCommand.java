package dev.moaa.runners.flink;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.launch.JobJar;
import dev.moaa.runners.cli.Cli;
import java.io.PrintStream;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code moaa flink-cluster start|stop|status}: a local Flink 1.19 session cluster (see {@link
 * LocalFlinkCluster}) that outlives the command, for submitting runs with {@code
 * --runner=FlinkRunner --flinkMaster=127.0.0.1:PORT}.
 *
 * <pre>
 * moaa flink-cluster start  [--dir=moaa-out/flink-cluster] [--taskmanagers=2] [--slots=2] [--lib=DIR]
 *                           [--job-jar=PATH|none] [--warm-up=false]
 * moaa flink-cluster stop   [--dir=moaa-out/flink-cluster]
 * moaa flink-cluster status [--dir=moaa-out/flink-cluster]
 * </pre>
 *
 * The cluster keeps a copy of the jar the command runs from (or {@code --job-jar}) on the class path
 * of its processes, so that runs submitted from that same jar ship none (see {@link JobJar}), and
 * then runs a small job on it so that the user's first job finds it warm (see {@link ClusterWarmUp}).
 *
 * <p>Exit codes: 0 done, 1 the cluster could not start (or, for status, is not running), 2 bad flags.
 */
@Command(name = "flink-cluster", mixinStandardHelpOptions = true,
    description = {"A local Flink 1.19 session cluster on 127.0.0.1.",
        "1 JobManager and N TaskManagers, each its own JVM, started from the jars `mvn install` copies to " + LocalFlinkCluster.LIB_IN_REPO + " (or --lib / $"
            + LocalFlinkCluster.LIB_ENV + ").",
        "Configuration, logs and pid files live in --dir. The TaskManagers inherit this shell's environment:",
        "export the API keys the config names before `start`."},
    synopsisSubcommandLabel = "start|stop|status",
    footer = "%nExit codes: 0 done, 1 the cluster could not start (or, for status, is not running), 2 bad flags.")
public final class FlinkClusterCommand implements Runnable {
  public static final String DEFAULT_DIR = "moaa-out/flink-cluster";

  @Spec CommandSpec spec;

  private FlinkClusterCommand() {}

  /** {@code flink-cluster} with its three actions. */
  public static CommandLine commandLine(PrintStream out, PrintStream err) {
    CommandLine cl = new CommandLine(new FlinkClusterCommand());
    cl.addSubcommand("start", new Start(out, err));
    cl.addSubcommand("stop", new Stop(out));
    cl.addSubcommand("status", new Status(out));
    return cl;
  }

  /** {@code moaa flink-cluster ARGS} on its own: the exit code. */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    CommandLine cl = commandLine(out, err);
    Cli.configure(cl, out, err);
    return cl.execute(args);
  }

  @Override
  public void run() {
    throw new ParameterException(spec.commandLine(), "name an action: start, stop or status");
  }

  /** The cluster's folder: where its configuration, logs and pid files live. */
  static final class DirFlag {
    @Option(names = "--dir", paramLabel = "DIR", defaultValue = DEFAULT_DIR,
        description = "The cluster's folder: configuration, logs, pid files (default: ${DEFAULT-VALUE}).")
    Path dir;

    Path dir() {
      return dir.toAbsolutePath().normalize();
    }
  }

  @Command(name = "start", mixinStandardHelpOptions = true, sortOptions = false,
      description = {"Starts the cluster. It keeps a copy of the moaa jar this command runs from (or --job-jar) on its",
          "class path: runs submitted from that same jar ship no jar and start sooner; with job classes on the",
          "cluster, a small warm-up job runs on it (--warm-up=false skips it)."})
  static final class Start implements Callable<Integer> {
    @Mixin DirFlag dir;

    @Option(names = "--taskmanagers", paramLabel = "N", defaultValue = "2", description = "TaskManagers (default: ${DEFAULT-VALUE}).")
    int taskManagers;

    @Option(names = "--slots", paramLabel = "N", defaultValue = "2", description = "Slots per TaskManager (default: ${DEFAULT-VALUE}).")
    int slots;

    @Option(names = "--lib", paramLabel = "DIR", description = "Folder of the Flink jars (default: the build's, or $"
        + LocalFlinkCluster.LIB_ENV + ").")
    String lib;

    @Option(names = "--job-jar", paramLabel = "PATH|none",
        description = "The jar whose classes the cluster holds (default: the running one; none keeps it bare).")
    String jobJar = "";

    @Option(names = "--warm-up", arity = "0..1", paramLabel = "true|false", defaultValue = "true", fallbackValue = "true",
        description = "Run a small job on the new cluster (default: ${DEFAULT-VALUE}).")
    boolean warmUp;

    @Option(names = "--taskmanager-memory", paramLabel = "SIZE", defaultValue = LocalFlinkCluster.Settings.TASK_MANAGER_MEMORY,
        description = "Process size of each TaskManager, in Flink's notation (default: ${DEFAULT-VALUE}).")
    String taskManagerMemory;

    @Option(names = "--conf", paramLabel = "KEY=VALUE",
        description = "A Flink configuration entry for conf/config.yaml, over the ones written by default (repeatable),"
            + " e.g. --conf=taskmanager.memory.managed.size=512m.")
    java.util.Map<String, String> conf = new java.util.LinkedHashMap<>();

    @Spec CommandSpec spec;

    private final PrintStream out;
    private final PrintStream err;

    Start(PrintStream out, PrintStream err) {
      this.out = out;
      this.err = err;
    }

    @Override
    public Integer call() {
      if (taskManagers < 1 || slots < 1) {
        throw new ParameterException(spec.commandLine(), "--taskmanagers and --slots must be at least 1");
      }
      if (!taskManagerMemory.matches("\\d+[kmgKMG]?")) {
        throw new ParameterException(spec.commandLine(), "--taskmanager-memory needs a size such as 2048m or 4g, got '"
            + taskManagerMemory + "'");
      }
      LocalFlinkCluster.Settings settings = LocalFlinkCluster.Settings.in(dir.dir()).withTaskManagers(taskManagers)
          .withSlots(slots).withMemory("1024m", taskManagerMemory).withConfig(conf);
      return start(settings, lib, jobJar, warmUp, out, err);
    }
  }

  @Command(name = "stop", mixinStandardHelpOptions = true, description = "Stops every Flink process of the cluster's folder.")
  static final class Stop implements Callable<Integer> {
    @Mixin DirFlag dir;

    private final PrintStream out;

    Stop(PrintStream out) {
      this.out = out;
    }

    @Override
    public Integer call() {
      return stop(dir.dir(), out);
    }
  }

  @Command(name = "status", mixinStandardHelpOptions = true,
      description = "Says whether the cluster of the folder runs, and its TaskManagers, slots and jobs.")
  static final class Status implements Callable<Integer> {
    @Mixin DirFlag dir;

    private final PrintStream out;

    Status(PrintStream out) {
      this.out = out;
    }

    @Override
    public Integer call() {
      return status(dir.dir(), out);
    }
  }

  private static int start(LocalFlinkCluster.Settings settings, String libFlag, String jobJarFlag, boolean warmUp,
      PrintStream out, PrintStream err) {
    Path dir = settings.dir();
    int taskManagers = settings.taskManagers();
    int slots = settings.slots();
    Path jobJar = jobJarFlag.equals("none") ? null
        : jobJarFlag.isEmpty() ? JobJar.running().orElse(null) : Paths.get(jobJarFlag).toAbsolutePath().normalize();
    LocalFlinkCluster cluster;
    try {
      Path lib = LocalFlinkCluster.findLib(libFlag);
      out.println("Starting a local Flink 1.19 session cluster in " + dir + " (1 JobManager, " + taskManagers
          + " TaskManagers x " + slots + " slots) ...");
      cluster = LocalFlinkCluster.start(settings.withLib(lib).withJobJar(jobJar));
    } catch (IllegalStateException e) {
      err.println("moaa flink-cluster: " + e.getMessage());
      return 1;
    }
    cluster.detach();
    out.println("Flink cluster running. Web UI and REST API: " + cluster.webUrl());
    out.println("  submit runs with:  --runner=FlinkRunner --flinkMaster=" + cluster.restAddress()
        + " --parallelism=" + taskManagers * slots);
    out.println(jobJar == null ? "  job classes: none on the cluster (every run ships its jar)"
        : "  job classes: a copy of " + jobJar + " (runs submitted from that jar ship none)");
    out.println("  JobManager pid " + cluster.jobManagerPid() + ", TaskManager pids " + cluster.taskManagerPids());
    if (jobJar != null && warmUp) {
      out.println("  warming it up: a " + ClusterWarmUp.PROMPTS + "-prompt SFT job against a simulated endpoint"
          + " (a TaskManager's first job loads and compiles what later jobs reuse; --warm-up=false skips it) ...");
      try {
        ClusterWarmUp.Result r = ClusterWarmUp.run(dir, cluster.restAddress(), taskManagers * slots);
        if (r.ok()) {
          out.printf(java.util.Locale.ROOT, "  warm-up job done in %.1f s%n", r.seconds());
        } else {
          err.println("moaa flink-cluster: the cluster runs, but its warm-up job failed (exit " + r.exitCode()
              + "; its folder is kept in " + dir.resolve("warm-up") + "):\n" + r.output());
        }
      } catch (java.io.IOException | RuntimeException e) {
        err.println("moaa flink-cluster: the cluster runs, but its warm-up job could not start: " + e);
      }
    }
    out.println("  config " + dir.resolve("conf/config.yaml") + ", logs " + dir.resolve("log"));
    out.println("  stop with:         moaa flink-cluster stop --dir=" + dir);
    return 0;
  }

  private static int stop(Path dir, PrintStream out) {
    int stopped = LocalFlinkCluster.stop(dir);
    out.println(stopped == 0 ? "No Flink process of " + dir + " was running."
        : "Stopped " + stopped + " Flink process" + (stopped == 1 ? "" : "es") + " of " + dir + ".");
    return 0;
  }

  private static int status(Path dir, PrintStream out) {
    LocalFlinkCluster.Status s = LocalFlinkCluster.status(dir);
    if (!s.running()) {
      out.println("No Flink cluster of " + dir + " is running.");
      return 1;
    }
    out.println("Flink cluster of " + dir + ": processes " + s.alive());
    s.restPort().ifPresent(p -> out.println("  web UI and REST API: http://127.0.0.1:" + p
        + "   --flinkMaster=127.0.0.1:" + p));
    if (s.overview().isPresent()) {
      JsonNode o = s.overview().get();
      out.println("  TaskManagers " + o.path("taskmanagers").asInt() + ", slots " + o.path("slots-available").asInt()
          + " free of " + o.path("slots-total").asInt() + ", jobs running " + o.path("jobs-running").asInt()
          + ", finished " + o.path("jobs-finished").asInt() + ", failed " + o.path("jobs-failed").asInt()
          + ", cancelled " + o.path("jobs-cancelled").asInt());
    } else {
      out.println("  the REST API does not answer (yet)");
    }
    return 0;
  }
}

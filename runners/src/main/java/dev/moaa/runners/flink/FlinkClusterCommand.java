package dev.moaa.runners.flink;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.launch.JobJar;
import java.io.PrintStream;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.Map;

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
public final class FlinkClusterCommand {
  public static final String DEFAULT_DIR = "moaa-out/flink-cluster";

  static final String USAGE = String.join("\n",
      "usage: moaa flink-cluster start  [--dir=" + DEFAULT_DIR + "] [--taskmanagers=2] [--slots=2] [--lib=DIR]",
      "                                 [--job-jar=PATH|none] [--warm-up=false]",
      "       moaa flink-cluster stop   [--dir=" + DEFAULT_DIR + "]",
      "       moaa flink-cluster status [--dir=" + DEFAULT_DIR + "]",
      "A local Flink 1.19 session cluster on 127.0.0.1 (1 JobManager, N TaskManagers, each its own JVM),",
      "started from the jars `mvn install` copies to " + LocalFlinkCluster.LIB_IN_REPO + " (or --lib / $"
          + LocalFlinkCluster.LIB_ENV + ").",
      "Configuration, logs and pid files live in --dir. The TaskManagers inherit this shell's environment:",
      "export the API keys the config names before `start`.",
      "The cluster keeps a copy of the moaa jar this command runs from (or --job-jar) on its class path:",
      "runs submitted from that same jar ship no jar and start sooner; --job-jar=none keeps the cluster bare.",
      "With job classes on the cluster, start runs a small warm-up job on it (--warm-up=false skips it).");

  private FlinkClusterCommand() {}

  public static int run(String[] args, PrintStream out, PrintStream err) {
    if (args.length == 0 || args[0].equals("help") || args[0].equals("--help")) {
      (args.length == 0 ? err : out).println(USAGE);
      return args.length == 0 ? 2 : 0;
    }
    Map<String, String> flags = new LinkedHashMap<>();
    for (int i = 1; i < args.length; i++) {
      String a = args[i];
      int eq = a.indexOf('=');
      if (!a.startsWith("--") || eq < 0) {
        err.println("moaa flink-cluster: flags are --name=value, got '" + a + "'\n" + USAGE);
        return 2;
      }
      flags.put(a.substring(2, eq), a.substring(eq + 1));
    }
    Path dir = Paths.get(flags.getOrDefault("dir", DEFAULT_DIR)).toAbsolutePath().normalize();
    try {
      switch (args[0]) {
        case "start":
          return start(dir, flags, out, err);
        case "stop":
          return stop(dir, flags, out, err);
        case "status":
          return status(dir, flags, out, err);
        default:
          err.println("moaa flink-cluster: unknown action '" + args[0] + "'\n" + USAGE);
          return 2;
      }
    } catch (NumberFormatException e) {
      err.println("moaa flink-cluster: not a number: " + e.getMessage());
      return 2;
    }
  }

  private static int start(Path dir, Map<String, String> flags, PrintStream out, PrintStream err) {
    if (!known(flags, err, "dir", "taskmanagers", "slots", "lib", "job-jar", "warm-up")) {
      return 2;
    }
    int taskManagers = Integer.parseInt(flags.getOrDefault("taskmanagers", "2"));
    int slots = Integer.parseInt(flags.getOrDefault("slots", "2"));
    if (taskManagers < 1 || slots < 1) {
      err.println("moaa flink-cluster: --taskmanagers and --slots must be at least 1");
      return 2;
    }
    String jobJarFlag = flags.getOrDefault("job-jar", "");
    Path jobJar = jobJarFlag.equals("none") ? null
        : jobJarFlag.isEmpty() ? JobJar.running().orElse(null) : Paths.get(jobJarFlag).toAbsolutePath().normalize();
    LocalFlinkCluster cluster;
    try {
      Path lib = LocalFlinkCluster.findLib(flags.get("lib"));
      out.println("Starting a local Flink 1.19 session cluster in " + dir + " (1 JobManager, " + taskManagers
          + " TaskManagers x " + slots + " slots) ...");
      cluster = LocalFlinkCluster.start(LocalFlinkCluster.Settings.in(dir).withLib(lib)
          .withTaskManagers(taskManagers).withSlots(slots).withJobJar(jobJar));
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
    if (jobJar != null && !"false".equals(flags.get("warm-up"))) {
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

  private static int stop(Path dir, Map<String, String> flags, PrintStream out, PrintStream err) {
    if (!known(flags, err, "dir")) {
      return 2;
    }
    int stopped = LocalFlinkCluster.stop(dir);
    out.println(stopped == 0 ? "No Flink process of " + dir + " was running."
        : "Stopped " + stopped + " Flink process" + (stopped == 1 ? "" : "es") + " of " + dir + ".");
    return 0;
  }

  private static int status(Path dir, Map<String, String> flags, PrintStream out, PrintStream err) {
    if (!known(flags, err, "dir")) {
      return 2;
    }
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

  private static boolean known(Map<String, String> flags, PrintStream err, String... names) {
    for (String f : flags.keySet()) {
      if (!java.util.Arrays.asList(names).contains(f)) {
        err.println("moaa flink-cluster: unknown flag --" + f + "\n" + USAGE);
        return false;
      }
    }
    return true;
  }
}

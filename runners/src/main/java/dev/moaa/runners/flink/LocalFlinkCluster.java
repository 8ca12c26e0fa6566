package dev.moaa.runners.flink;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moaa.runners.launch.JobJar;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real Flink 1.19 session cluster on this machine: one JobManager and N TaskManagers, each its
 * own JVM, started from the jars that the {@code runners/flink-cluster} module copies to {@code
 * runners/flink-cluster/target/lib} (Flink publishes no {@code flink-dist} to Maven).
 *
 * <p>{@link #start(Settings)} writes {@code conf/config.yaml} (the file name Flink 1.19 reads
 * first, before the legacy {@code flink-conf.yaml}) and {@code conf/log4j.properties} into the
 * work folder. Every address the processes bind to or advertise is {@code 127.0.0.1}; the RPC and
 * REST ports are free ports chosen at start, all other ports are ephemeral. The JVM memory flags
 * and the derived memory options are the ones Flink's own start scripts use: they come from
 * {@code BashJavaUtils GET_JM_RESOURCE_PARAMS} / {@code GET_TM_RESOURCE_PARAMS}. Logs go to {@code
 * log/}, temporary files to {@code tmp/}, and each process's pid to {@code pids/}, so that {@link
 * #stop(Path)} can stop a cluster started by another process. A killed TaskManager is noticed
 * within about 2 s: heartbeats go out every second and two failed heartbeat calls mark it lost
 * (the 20 s heartbeat timeout only matters for a process that hangs).
 *
 * <pre>{@code
 * try (LocalFlinkCluster flink = LocalFlinkCluster.start(
 *     LocalFlinkCluster.Settings.in(Paths.get("target/flink")).withTaskManagers(2).withSlots(2))) {
 *   String master = flink.restAddress(); // "127.0.0.1:PORT", for --flinkMaster=
 * }
 * }</pre>
 *
 * <p>Unless {@link #detach()} is called, a JVM shutdown hook stops every process the cluster
 * started, so a failing test never leaves one behind.
 */
public final class LocalFlinkCluster implements AutoCloseable {

  /** Where {@code mvn install} puts the Flink jars, relative to the repository root. */
  public static final String LIB_IN_REPO = "runners/flink-cluster/target/lib";
  /** The environment variable naming the Flink lib folder. */
  public static final String LIB_ENV = "MOAA_FLINK_LIB";
  /** Extra JVM options of every cluster process, space separated (as Flink's FLINK_ENV_JAVA_OPTS). */
  public static final String JAVA_OPTS_ENV = "MOAA_FLINK_JAVA_OPTS";

  static final String JOB_MANAGER_CLASS = "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint";
  static final String TASK_MANAGER_CLASS = "org.apache.flink.runtime.taskexecutor.TaskManagerRunner";
  static final String BASH_JAVA_UTILS_CLASS = "org.apache.flink.runtime.util.bash.BashJavaUtils";
  static final String RESULT_PREFIX = "BASH_JAVA_UTILS_EXEC_RESULT:";
  static final String STATE_FILE = "cluster.properties";
  static final String LOOPBACK = "127.0.0.1";

  /** The module flags Flink 1.19 needs on Java 17 (its distribution sets them as env.java.opts.all). */
  static final List<String> JAVA_17_OPTS = List.of(
      "--add-exports=java.base/sun.net.util=ALL-UNNAMED",
      "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
      "--add-exports=jdk.compiler/com.sun.tools.javac.api=ALL-UNNAMED",
      "--add-exports=jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED",
      "--add-exports=jdk.compiler/com.sun.tools.javac.parser=ALL-UNNAMED",
      "--add-exports=jdk.compiler/com.sun.tools.javac.tree=ALL-UNNAMED",
      "--add-exports=jdk.compiler/com.sun.tools.javac.util=ALL-UNNAMED",
      "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
      "--add-opens=java.base/java.lang=ALL-UNNAMED",
      "--add-opens=java.base/java.net=ALL-UNNAMED",
      "--add-opens=java.base/java.io=ALL-UNNAMED",
      "--add-opens=java.base/java.nio=ALL-UNNAMED",
      "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
      "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
      "--add-opens=java.base/java.text=ALL-UNNAMED",
      "--add-opens=java.base/java.time=ALL-UNNAMED",
      "--add-opens=java.base/java.util=ALL-UNNAMED",
      "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
      "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
      "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED");

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration STOP_GRACE = Duration.ofSeconds(15);

  private final Settings settings;
  private final Layout layout;
  private final int rpcPort;
  private final int restPort;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
  private final Map<Long, Managed> taskManagers = new LinkedHashMap<>();
  private Managed jobManager;
  private int nextTaskManager = 1;
  private Thread shutdownHook;
  private boolean closed;

  /** One started process: its handle, its name (log and pid file stem). */
  private record Managed(String name, Process process) {
    long pid() {
      return process.pid();
    }
  }

  /** The files of a cluster's work folder. */
  record Layout(Path dir) {
    Path conf() {
      return dir.resolve("conf");
    }

    Path log() {
      return dir.resolve("log");
    }

    Path pids() {
      return dir.resolve("pids");
    }

    Path tmp() {
      return dir.resolve("tmp");
    }

    Path state() {
      return dir.resolve(STATE_FILE);
    }

    /** The copy of the job jar that the processes load (see {@link Settings#withJobJar(Path)}). */
    Path jobJar() {
      return dir.resolve("job-classes").resolve("moaa-job.jar");
    }
  }

  /**
   * How to start a cluster: the work folder (required), the Flink lib folder (default: {@link
   * #findLib(String)} without an explicit folder), the TaskManagers and slots, the process memory
   * of each JVM and how long to wait for the cluster to come up.
   */
  public static final class Settings {
    private final Path dir;
    private final Path lib;
    private final int taskManagers;
    private final int slots;
    private final String jobManagerMemory;
    private final String taskManagerMemory;
    private final Duration startTimeout;
    private final Map<String, String> extraConfig;
    private final Path jobJar;

    private Settings(Path dir, Path lib, int taskManagers, int slots, String jobManagerMemory,
        String taskManagerMemory, Duration startTimeout, Map<String, String> extraConfig, Path jobJar) {
      if (taskManagers < 0) {
        throw new IllegalArgumentException("taskManagers must be >= 0, got " + taskManagers);
      }
      if (slots < 1) {
        throw new IllegalArgumentException("slots must be >= 1, got " + slots);
      }
      this.dir = Objects.requireNonNull(dir, "dir").toAbsolutePath().normalize();
      this.lib = lib == null ? null : lib.toAbsolutePath().normalize();
      this.taskManagers = taskManagers;
      this.slots = slots;
      this.jobManagerMemory = Objects.requireNonNull(jobManagerMemory);
      this.taskManagerMemory = Objects.requireNonNull(taskManagerMemory);
      this.startTimeout = Objects.requireNonNull(startTimeout);
      this.extraConfig = Map.copyOf(extraConfig);
      this.jobJar = jobJar == null ? null : jobJar.toAbsolutePath().normalize();
    }

    /** The default memory of a TaskManager process: heap as before, plus managed memory and network buffers for batch jobs. */
    public static final String TASK_MANAGER_MEMORY = "2048m";

    /** 2 TaskManagers with 2 slots each, 1024m for the JobManager, {@value #TASK_MANAGER_MEMORY} per TaskManager. */
    public static Settings in(Path dir) {
      return new Settings(dir, null, 2, 2, "1024m", TASK_MANAGER_MEMORY, Duration.ofSeconds(120), Map.of(), null);
    }

    public Settings withLib(Path lib) {
      return new Settings(dir, lib, taskManagers, slots, jobManagerMemory, taskManagerMemory, startTimeout, extraConfig, jobJar);
    }

    public Settings withTaskManagers(int n) {
      return new Settings(dir, lib, n, slots, jobManagerMemory, taskManagerMemory, startTimeout, extraConfig, jobJar);
    }

    public Settings withSlots(int perTaskManager) {
      return new Settings(dir, lib, taskManagers, perTaskManager, jobManagerMemory, taskManagerMemory, startTimeout, extraConfig, jobJar);
    }

    /** Process sizes in Flink's notation, e.g. {@code 1024m}. */
    public Settings withMemory(String jobManager, String taskManager) {
      return new Settings(dir, lib, taskManagers, slots, jobManager, taskManager, startTimeout, extraConfig, jobJar);
    }

    public Settings withStartTimeout(Duration timeout) {
      return new Settings(dir, lib, taskManagers, slots, jobManagerMemory, taskManagerMemory, timeout, extraConfig, jobJar);
    }

    /** Extra flat {@code key: value} lines for config.yaml (they win over the defaults written here). */
    public Settings withConfig(Map<String, String> extra) {
      return new Settings(dir, lib, taskManagers, slots, jobManagerMemory, taskManagerMemory, startTimeout, extra, jobJar);
    }

    /**
     * A job jar (the bundled {@code moaa.jar}) to keep on the class path of every process of the
     * cluster, or null for none. The cluster loads a copy taken at start, so rebuilding the jar
     * never changes a running cluster, and names the original's {@link JobJar#id(Path)} in its
     * configuration: a run submitted from the same jar then ships no jar (see {@link JobJar}).
     */
    public Settings withJobJar(Path jar) {
      return new Settings(dir, lib, taskManagers, slots, jobManagerMemory, taskManagerMemory, startTimeout, extraConfig, jar);
    }

    public Path dir() {
      return dir;
    }

    public Path jobJar() {
      return jobJar;
    }

    public int taskManagers() {
      return taskManagers;
    }

    public int slots() {
      return slots;
    }
  }

  private LocalFlinkCluster(Settings settings, int rpcPort, int restPort) {
    this.settings = settings;
    this.layout = new Layout(settings.dir);
    this.rpcPort = rpcPort;
    this.restPort = restPort;
  }

  /**
   * Writes the configuration, starts the JobManager and the TaskManagers and waits until the REST
   * API lists all of them.
   *
   * @throws IllegalStateException when the lib folder is missing, a cluster of this folder is
   *     still running, or the cluster did not come up in time (the message holds the log tails)
   */
  public static LocalFlinkCluster start(Settings settings) {
    Path lib = settings.lib != null ? checkLib(settings.lib) : findLib(null);
    Settings s = settings.withLib(lib);
    Layout layout = new Layout(s.dir);
    List<Long> running = alivePids(layout);
    if (!running.isEmpty()) {
      throw new IllegalStateException("a Flink cluster of " + s.dir + " is still running (pids " + running
          + "); stop it first: moaa flink-cluster stop --dir=" + s.dir);
    }
    try {
      // plugins/: Flink looks for it in the working directory and warns when it is missing
      for (Path p : List.of(layout.conf(), layout.log(), layout.pids(), layout.tmp(), layout.dir().resolve("plugins"))) {
        Files.createDirectories(p);
      }
      clearFolder(layout.pids());
      if (s.jobJar != null) {
        if (!Files.isRegularFile(s.jobJar)) {
          throw new IllegalStateException("the job jar " + s.jobJar + " does not exist");
        }
        Files.createDirectories(layout.jobJar().getParent());
        Files.copy(s.jobJar, layout.jobJar(), StandardCopyOption.REPLACE_EXISTING);
      } else {
        Files.deleteIfExists(layout.jobJar());
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot prepare the Flink work folder " + s.dir, e);
    }
    // A free port is picked by binding and releasing it; another process may take it before the
    // JobManager binds it. Lost that race, the start is tried again on other ports.
    for (int attempt = 1; ; attempt++) {
      LocalFlinkCluster cluster = prepare(s, layout, lib);
      long logFrom = size(layout.log().resolve("jobmanager.log"));
      cluster.shutdownHook = new Thread(cluster::stopProcesses, "moaa-flink-cluster-stop");
      Runtime.getRuntime().addShutdownHook(cluster.shutdownHook);
      try {
        cluster.startJobManager();
        for (int i = 0; i < s.taskManagers; i++) {
          cluster.startTaskManager();
        }
        cluster.waitForTaskManagers(s.taskManagers, s.startTimeout);
        return cluster;
      } catch (RuntimeException e) {
        cluster.close();
        if (attempt < PORT_ATTEMPTS && lostAPortRace(layout.log().resolve("jobmanager.log"), logFrom)) {
          System.err.println("moaa flink-cluster: a port picked for the JobManager was taken before it bound it;"
              + " starting again on other ports");
          continue;
        }
        throw e;
      }
    }
  }

  /** How many times a start that lost a port race is tried. */
  static final int PORT_ATTEMPTS = 3;

  /**
   * Whether the JobManager's log, from byte {@code from} on (what this start wrote), says it could
   * not bind a port it was given.
   */
  static boolean lostAPortRace(Path jobManagerLog, long from) {
    try {
      byte[] all = Files.readAllBytes(jobManagerLog);
      int start = (int) Math.min(all.length, Math.max(0, from));
      return new String(all, start, all.length - start, StandardCharsets.UTF_8).contains("java.net.BindException");
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  private static long size(Path file) {
    try {
      return Files.size(file);
    } catch (IOException e) {
      return 0;
    }
  }

  /** Picks the ports and writes the configuration and the state file of one start. */
  private static LocalFlinkCluster prepare(Settings s, Layout layout, Path lib) {
    try {
      int rpc = freePort();
      int rest = freePort();
      while (rest == rpc) {
        rest = freePort();
      }
      LocalFlinkCluster cluster = new LocalFlinkCluster(s, rpc, rest);
      Files.writeString(layout.conf().resolve("config.yaml"), configYaml(s, rpc, rest), StandardCharsets.UTF_8);
      Files.writeString(layout.conf().resolve("log4j.properties"), LOG4J_PROPERTIES, StandardCharsets.UTF_8);
      Properties state = new Properties();
      state.setProperty("rest.port", String.valueOf(rest));
      state.setProperty("jobmanager.rpc.port", String.valueOf(rpc));
      state.setProperty("lib", lib.toString());
      if (s.jobJar != null) {
        state.setProperty("job.jar", s.jobJar.toString());
      }
      try (var w = Files.newBufferedWriter(layout.state(), StandardCharsets.UTF_8)) {
        state.store(w, "moaa flink-cluster");
      }
      return cluster;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot prepare the Flink work folder " + s.dir, e);
    }
  }

  /** The REST endpoint, {@code 127.0.0.1:PORT}: the value of {@code --flinkMaster}. */
  public String restAddress() {
    return LOOPBACK + ":" + restPort;
  }

  /** The web UI and REST API, {@code http://127.0.0.1:PORT}. */
  public URI webUrl() {
    return URI.create("http://" + restAddress());
  }

  public int restPort() {
    return restPort;
  }

  public int rpcPort() {
    return rpcPort;
  }

  public Settings settings() {
    return settings;
  }

  /** The JobManager's process id. */
  public synchronized long jobManagerPid() {
    return jobManager.pid();
  }

  /** The process ids of the TaskManagers started by this object and still alive, oldest first. */
  public synchronized List<Long> taskManagerPids() {
    return taskManagers.values().stream().filter(m -> m.process().isAlive()).map(Managed::pid).toList();
  }

  /**
   * Kills one TaskManager at once with SIGKILL (no shutdown of any kind, as a crashed machine),
   * and waits until the process is gone.
   *
   * @throws IllegalArgumentException when {@code pid} is not a TaskManager of this cluster
   */
  public synchronized void killTaskManager(long pid) {
    Managed tm = taskManagers.get(pid);
    if (tm == null) {
      throw new IllegalArgumentException("pid " + pid + " is not a TaskManager of this cluster: " + taskManagers.keySet());
    }
    tm.process().destroyForcibly();
    try {
      tm.process().waitFor(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    taskManagers.remove(pid);
    deleteQuietly(layout.pids().resolve(tm.name() + ".pid"));
  }

  /** Starts one more TaskManager (it registers with the JobManager on its own); returns its pid. */
  public synchronized long startTaskManager() {
    checkOpen();
    String name = "taskmanager-" + nextTaskManager++;
    Managed tm = launch(name, TASK_MANAGER_CLASS, resourceParams("GET_TM_RESOURCE_PARAMS"), List.of());
    taskManagers.put(tm.pid(), tm);
    return tm.pid();
  }

  /**
   * Waits until the REST API lists exactly {@code n} TaskManagers (a killed one is listed until its
   * heartbeat times out).
   *
   * @throws IllegalStateException on timeout or when the JobManager died, with the log tails
   */
  public void waitForTaskManagers(int n, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    int seen = -1;
    while (System.nanoTime() < deadline) {
      synchronized (this) {
        checkOpen();
        if (!jobManager.process().isAlive()) {
          throw new IllegalStateException("the Flink JobManager exited (code " + jobManager.process().exitValue()
              + ")\n" + logTails());
        }
      }
      Optional<Integer> count = registeredTaskManagers();
      if (count.isPresent()) {
        seen = count.get();
        if (seen == n) {
          return;
        }
      }
      sleep(250);
    }
    throw new IllegalStateException("the Flink cluster at " + webUrl() + " did not list " + n + " TaskManagers within "
        + timeout.toSeconds() + " s (last seen: " + (seen < 0 ? "REST API not answering" : seen) + ")\n" + logTails());
  }

  /** As {@link #waitForTaskManagers(int, Duration)} with the start timeout of the settings. */
  public void waitForTaskManagers(int n) {
    waitForTaskManagers(n, settings.startTimeout);
  }

  /** The number of TaskManagers the REST API lists now, empty when it does not answer. */
  public Optional<Integer> registeredTaskManagers() {
    return getJson(http, restPort, "/taskmanagers").map(j -> j.path("taskmanagers").size());
  }

  /** Stops the cluster's processes from now on only when {@link #close()} or {@link #stop(Path)} is called. */
  public synchronized void detach() {
    if (shutdownHook != null) {
      try {
        Runtime.getRuntime().removeShutdownHook(shutdownHook);
      } catch (IllegalStateException e) {
        // the JVM is already shutting down: the hook runs anyway
      }
      shutdownHook = null;
    }
  }

  /** Stops every TaskManager, then the JobManager (SIGTERM, then SIGKILL after 15 s). */
  @Override
  public void close() {
    detach();
    stopProcesses();
  }

  private void stopProcesses() {
    List<Managed> all;
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      all = new ArrayList<>(taskManagers.values());
      if (jobManager != null) {
        all.add(jobManager);
      }
    }
    List<ProcessHandle> handles = all.stream().map(m -> m.process().toHandle()).toList();
    terminate(handles);
    for (Managed m : all) {
      deleteQuietly(layout.pids().resolve(m.name() + ".pid"));
    }
  }

  // ---------------------------------------------------------------- stop and status of any cluster

  /**
   * Stops the processes named by the pid files of {@code dir} (a cluster started by another
   * process). A pid is only signalled when its command line names this folder's configuration.
   *
   * @return how many processes were stopped
   */
  public static int stop(Path dir) {
    Layout layout = new Layout(dir.toAbsolutePath().normalize());
    List<ProcessHandle> handles = new ArrayList<>();
    for (Path pidFile : pidFiles(layout)) {
      readPid(pidFile).flatMap(ProcessHandle::of).filter(h -> isOurs(h, layout)).ifPresent(handles::add);
    }
    terminate(handles);
    for (Path pidFile : pidFiles(layout)) {
      deleteQuietly(pidFile);
    }
    return handles.size();
  }

  /** What {@code moaa flink-cluster status} prints. */
  public record Status(Path dir, Map<String, Long> alive, Optional<Integer> restPort, Optional<JsonNode> overview) {
    public boolean running() {
      return !alive.isEmpty();
    }
  }

  /** The live processes of the cluster of {@code dir} and, when it answers, its REST overview. */
  public static Status status(Path dir) {
    Layout layout = new Layout(dir.toAbsolutePath().normalize());
    Map<String, Long> alive = new LinkedHashMap<>();
    for (Path pidFile : pidFiles(layout)) {
      String name = pidFile.getFileName().toString().replaceFirst("\\.pid$", "");
      readPid(pidFile).flatMap(ProcessHandle::of).filter(h -> h.isAlive() && isOurs(h, layout))
          .ifPresent(h -> alive.put(name, h.pid()));
    }
    Optional<Integer> port = readState(layout).map(p -> Integer.parseInt(p.getProperty("rest.port")));
    Optional<JsonNode> overview = port.filter(p -> !alive.isEmpty())
        .flatMap(p -> getJson(HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build(), p, "/overview"));
    return new Status(layout.dir(), alive, port, overview);
  }

  // ---------------------------------------------------------------- finding the Flink jars

  /**
   * The Flink lib folder: {@code explicit} when given, else {@code $MOAA_FLINK_LIB}, else {@value
   * #LIB_IN_REPO} in the working directory, one of its parents, or next to the jar this class was
   * loaded from.
   *
   * @throws IllegalStateException when none holds the Flink jars, saying how to build them
   */
  public static Path findLib(String explicit) {
    if (explicit != null && !explicit.isBlank()) {
      return checkLib(Paths.get(explicit));
    }
    String env = System.getenv(LIB_ENV);
    if (env != null && !env.isBlank()) {
      return checkLib(Paths.get(env));
    }
    List<Path> starts = new ArrayList<>();
    starts.add(Paths.get("").toAbsolutePath());
    codeLocation().ifPresent(starts::add);
    for (Path start : starts) {
      for (Path p = start; p != null; p = p.getParent()) {
        Path candidate = p.resolve(LIB_IN_REPO);
        if (hasFlinkJars(candidate)) {
          return candidate.toAbsolutePath().normalize();
        }
      }
    }
    throw new IllegalStateException("the Flink jars were not found (looked for " + LIB_IN_REPO
        + " from " + starts.get(0) + " upwards and next to the moaa jar). Build them first with\n"
        + "  mvn -q install -DskipTests\n"
        + "in the repository root, or name the folder with --lib=DIR or " + LIB_ENV + "=DIR");
  }

  private static Path checkLib(Path lib) {
    if (!hasFlinkJars(lib)) {
      throw new IllegalStateException("no Flink jars (flink-runtime-*.jar) in " + lib.toAbsolutePath()
          + "; build them with `mvn -q install -DskipTests` in the repository root (they land in " + LIB_IN_REPO + ")");
    }
    return lib.toAbsolutePath().normalize();
  }

  private static boolean hasFlinkJars(Path lib) {
    if (!Files.isDirectory(lib)) {
      return false;
    }
    try (Stream<Path> files = Files.list(lib)) {
      return files.map(f -> f.getFileName().toString()).anyMatch(n -> n.startsWith("flink-runtime-") && n.endsWith(".jar")
          && !n.startsWith("flink-runtime-web"));
    } catch (IOException e) {
      return false;
    }
  }

  private static Optional<Path> codeLocation() {
    try {
      return Optional.of(Paths.get(LocalFlinkCluster.class.getProtectionDomain().getCodeSource().getLocation().toURI()));
    } catch (Exception e) {
      return Optional.empty();
    }
  }

  // ---------------------------------------------------------------- processes

  private void startJobManager() {
    jobManager = launch("jobmanager", JOB_MANAGER_CLASS, resourceParams("GET_JM_RESOURCE_PARAMS"),
        List.of("--executionMode", "cluster"));
  }

  /** JVM flags and dynamic {@code -D} options computed by Flink from the configuration. */
  record ResourceParams(List<String> jvm, List<String> dynamic) {}

  private ResourceParams resourceParams(String command) {
    List<String> cmd = new ArrayList<>(List.of(javaExecutable(), "-Xmx256m", "-classpath", classpath(),
        BASH_JAVA_UTILS_CLASS, command, "--configDir", layout.conf().toString()));
    try {
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(devNull()))
          .start();
      String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
        throw new IllegalStateException("BashJavaUtils " + command + " failed:\n" + output);
      }
      return parseResourceParams(command, output);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot run BashJavaUtils " + command, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while running BashJavaUtils", e);
    }
  }

  /** The last two result lines of BashJavaUtils: the JVM flags, then the dynamic configuration. */
  static ResourceParams parseResourceParams(String command, String output) {
    List<String> results = output.lines().filter(l -> l.startsWith(RESULT_PREFIX))
        .map(l -> l.substring(RESULT_PREFIX.length()).trim()).toList();
    if (results.size() != 2) {
      throw new IllegalStateException("BashJavaUtils " + command + " gave " + results.size()
          + " result lines instead of 2:\n" + output);
    }
    return new ResourceParams(split(results.get(0)), split(results.get(1)));
  }

  private static List<String> split(String s) {
    return s.isBlank() ? List.of() : Arrays.asList(s.trim().split("\\s+"));
  }

  private Managed launch(String name, String mainClass, ResourceParams params, List<String> extraArgs) {
    Path logFile = layout.log().resolve(name + ".log");
    Path outFile = layout.log().resolve(name + ".out");
    List<String> cmd = new ArrayList<>();
    cmd.add(javaExecutable());
    cmd.addAll(params.jvm());
    cmd.add("-XX:+IgnoreUnrecognizedVMOptions");
    // the JIT's first tier only, as the moaa launcher: these JVMs share a few cores with the
    // client and wait on model endpoints; the environment's options below may override it
    cmd.add("-XX:TieredStopAtLevel=1");
    cmd.addAll(JAVA_17_OPTS);
    String extra = System.getenv(JAVA_OPTS_ENV);
    if (extra != null && !extra.isBlank()) {
      cmd.addAll(split(extra.replace("{name}", name).replace("{log}", layout.log().toString())));
    }
    cmd.add("-Djava.io.tmpdir=" + layout.tmp());
    cmd.add("-Dlog.file=" + logFile);
    cmd.add("-Dlog4j.configuration=file:" + layout.conf().resolve("log4j.properties"));
    cmd.add("-Dlog4j.configurationFile=file:" + layout.conf().resolve("log4j.properties"));
    cmd.add("-Dmoaa.flink.process=" + name);
    cmd.add("-classpath");
    cmd.add(classpath());
    cmd.add(mainClass);
    cmd.addAll(params.dynamic());
    cmd.add("--configDir");
    cmd.add(layout.conf().toString());
    cmd.addAll(extraArgs);
    try {
      deleteQuietly(logFile);
      Process process = new ProcessBuilder(cmd)
          .directory(layout.dir().toFile())
          .redirectErrorStream(true)
          .redirectOutput(outFile.toFile())
          .redirectInput(ProcessBuilder.Redirect.from(devNull()))
          .start();
      Files.writeString(layout.pids().resolve(name + ".pid"), process.pid() + "\n", StandardCharsets.UTF_8);
      return new Managed(name, process);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot start the Flink " + name, e);
    }
  }

  private String classpath() {
    try (Stream<Path> files = Files.list(settings.lib)) {
      // the log4j binding first, as Flink's lib/ orders it; the job jar last, so that Flink's own
      // classes and its logging binding come from lib/ (a job that ships its own jar still loads
      // its classes from that jar first: Flink's class loading is child-first)
      String flink = files.filter(f -> f.toString().endsWith(".jar"))
          .sorted((a, b) -> {
            boolean la = a.getFileName().toString().startsWith("log4j");
            boolean lb = b.getFileName().toString().startsWith("log4j");
            return la != lb ? (la ? -1 : 1) : a.compareTo(b);
          })
          .map(Path::toString).reduce((a, b) -> a + File.pathSeparator + b).orElseThrow();
      return settings.jobJar == null ? flink : flink + File.pathSeparator + layout.jobJar();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot list " + settings.lib, e);
    }
  }

  private static String javaExecutable() {
    return Paths.get(System.getProperty("java.home"), "bin", "java").toString();
  }

  private static File devNull() {
    return new File(File.separatorChar == '\\' ? "NUL" : "/dev/null");
  }

  /** SIGTERM to all (Flink shuts down cleanly), then SIGKILL to whatever is left after the grace period. */
  private static void terminate(List<ProcessHandle> handles) {
    List<ProcessHandle> jobManagers = handles.stream().filter(LocalFlinkCluster::isJobManager).toList();
    List<ProcessHandle> others = handles.stream().filter(h -> !jobManagers.contains(h)).toList();
    others.forEach(ProcessHandle::destroy);
    awaitExit(others, STOP_GRACE);
    jobManagers.forEach(ProcessHandle::destroy);
    awaitExit(jobManagers, STOP_GRACE);
    for (ProcessHandle h : handles) {
      if (h.isAlive()) {
        h.destroyForcibly();
      }
    }
    awaitExit(handles, Duration.ofSeconds(10));
  }

  private static void awaitExit(List<ProcessHandle> handles, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    for (ProcessHandle h : handles) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        return;
      }
      try {
        h.onExit().get(left, TimeUnit.NANOSECONDS);
      } catch (Exception e) {
        // still alive: the caller escalates
      }
    }
  }

  private static boolean isJobManager(ProcessHandle h) {
    return h.info().arguments().map(a -> Arrays.asList(a).contains(JOB_MANAGER_CLASS))
        .orElseGet(() -> h.info().commandLine().map(c -> c.contains(JOB_MANAGER_CLASS)).orElse(false));
  }

  /** True when the process's command line names this folder's configuration (a pid may be reused). */
  private static boolean isOurs(ProcessHandle h, Layout layout) {
    String conf = layout.conf().toString();
    return h.info().arguments().map(a -> Arrays.asList(a).contains(conf))
        .orElseGet(() -> h.info().commandLine().map(c -> c.contains(conf)).orElse(false));
  }

  private static List<Long> alivePids(Layout layout) {
    List<Long> pids = new ArrayList<>();
    for (Path pidFile : pidFiles(layout)) {
      readPid(pidFile).flatMap(ProcessHandle::of).filter(h -> h.isAlive() && isOurs(h, layout))
          .ifPresent(h -> pids.add(h.pid()));
    }
    return pids;
  }

  private static List<Path> pidFiles(Layout layout) {
    if (!Files.isDirectory(layout.pids())) {
      return List.of();
    }
    try (Stream<Path> files = Files.list(layout.pids())) {
      return files.filter(f -> f.toString().endsWith(".pid")).sorted().toList();
    } catch (IOException e) {
      return List.of();
    }
  }

  private static Optional<Long> readPid(Path pidFile) {
    try {
      return Optional.of(Long.parseLong(Files.readString(pidFile, StandardCharsets.UTF_8).trim()));
    } catch (IOException | NumberFormatException e) {
      return Optional.empty();
    }
  }

  private static Optional<Properties> readState(Layout layout) {
    if (!Files.isRegularFile(layout.state())) {
      return Optional.empty();
    }
    Properties p = new Properties();
    try (var r = Files.newBufferedReader(layout.state(), StandardCharsets.UTF_8)) {
      p.load(r);
      return p.getProperty("rest.port") == null ? Optional.empty() : Optional.of(p);
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  private static Optional<JsonNode> getJson(HttpClient http, int port, String path) {
    try {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://" + LOOPBACK + ":" + port + path))
          .timeout(Duration.ofSeconds(3)).GET().build(), HttpResponse.BodyHandlers.ofString());
      return r.statusCode() == 200 ? Optional.of(JSON.readTree(r.body())) : Optional.empty();
    } catch (IOException e) {
      return Optional.empty();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return Optional.empty();
    }
  }

  /** The last lines of every log of this cluster, for error messages. */
  public String logTails() {
    StringBuilder b = new StringBuilder();
    try (Stream<Path> files = Files.list(layout.log())) {
      for (Path f : files.sorted().toList()) {
        List<String> lines = Files.readAllLines(f, StandardCharsets.ISO_8859_1);
        b.append("---- ").append(f).append(" (last ").append(Math.min(30, lines.size())).append(" lines)\n");
        lines.subList(Math.max(0, lines.size() - 30), lines.size()).forEach(l -> b.append(l).append('\n'));
      }
    } catch (IOException e) {
      b.append("(cannot read the logs in ").append(layout.log()).append(": ").append(e.getMessage()).append(")\n");
    }
    return b.toString();
  }

  private void checkOpen() {
    if (closed) {
      throw new IllegalStateException("the Flink cluster of " + settings.dir + " is closed");
    }
  }

  // ---------------------------------------------------------------- configuration

  /** The content of conf/config.yaml: flat keys, which Flink 1.19's standard YAML parser accepts. */
  static String configYaml(Settings settings, int rpcPort, int restPort) {
    Layout layout = new Layout(settings.dir);
    Map<String, String> c = new LinkedHashMap<>();
    c.put("jobmanager.rpc.address", LOOPBACK);
    c.put("jobmanager.rpc.port", String.valueOf(rpcPort));
    c.put("jobmanager.bind-host", LOOPBACK);
    c.put("jobmanager.memory.process.size", settings.jobManagerMemory);
    c.put("jobmanager.execution.failover-strategy", "region");
    c.put("taskmanager.bind-host", LOOPBACK);
    c.put("taskmanager.host", LOOPBACK);
    c.put("taskmanager.rpc.port", "0");
    c.put("taskmanager.data.port", "0");
    c.put("taskmanager.numberOfTaskSlots", String.valueOf(settings.slots));
    // a job's subtasks go to every TaskManager before any gets a second one: max_concurrency is
    // enforced per TaskManager, so two subtasks on one of two would get half the calls in flight
    c.put("cluster.evenly-spread-out-slots", "true");
    c.put("taskmanager.memory.process.size", settings.taskManagerMemory);
    // Streaming jobs: Beam keeps its state on the heap, so the heap gets what RocksDB would take.
    // Batch jobs (--streaming=false, for corpora larger than memory): their groups sort in managed
    // memory and spill to io.tmp.dirs beyond it, and each blocking exchange of a TaskManager holds
    // at least taskmanager.network.sort-shuffle.min-buffers network buffers (512 by default, which
    // failed a batch job on the 96 MB of buffers of a 1.5 GB TaskManager: "Insufficient number of
    // network buffers"). 256 MB of managed memory, 192 MB of network buffers and 128 buffers per
    // exchange run W1's topology at 1,000,000 prompts with 2 x 2 slots.
    c.put("taskmanager.memory.managed.size", "256m");
    c.put("taskmanager.memory.network.min", "192m");
    c.put("taskmanager.memory.network.max", "192m");
    c.put("taskmanager.network.sort-shuffle.min-buffers", "128");
    c.put("taskmanager.memory.jvm-metaspace.size", "384m");
    c.put("rest.address", LOOPBACK);
    c.put("rest.bind-address", LOOPBACK);
    c.put("rest.port", String.valueOf(restPort));
    c.put("blob.server.port", "0");
    c.put("metrics.internal.query-service.port", "0");
    // the web UI and the REST API read the TaskManagers' metrics at most this often (10 s by default):
    // a run's per-model call counters, published as each chain DoFn's bundle ends, show within a second
    c.put("metrics.fetcher.update-interval", "1000");
    // A killed TaskManager is noticed by failed heartbeat RPCs (heartbeat.rpc-failure-threshold, 2 by
    // default): about 2 s with a 1 s interval. The timeout only covers a hung process; at 6 s it fired
    // on healthy processes here, whose main threads were busy deploying a few hundred tasks on 2 cores.
    c.put("heartbeat.interval", "1000");
    c.put("heartbeat.timeout", "20000");
    c.put("parallelism.default", "1");
    c.put("io.tmp.dirs", layout.tmp().toString());
    c.put("web.tmpdir", layout.tmp().resolve("web").toString());
    c.put("blob.storage.directory", layout.tmp().resolve("blob").toString());
    c.put("env.java.opts.all", String.join(" ", JAVA_17_OPTS));
    if (settings.jobJar != null) {
      // not a Flink option: the identity of the job jar on the processes' class path, for clients
      c.put(JobJar.CONFIG_KEY, JobJar.id(settings.jobJar));
    }
    c.putAll(settings.extraConfig);
    StringBuilder b = new StringBuilder("# Written by moaa flink-cluster: a local Flink 1.19 session cluster, bound to ")
        .append(LOOPBACK).append(" only.\n");
    c.forEach((k, v) -> b.append(k).append(": ").append(yamlScalar(v)).append('\n'));
    return b.toString();
  }

  private static String yamlScalar(String v) {
    return v.matches("[A-Za-z0-9_./:=@+-]+") && !v.startsWith("-") ? v : "'" + v.replace("'", "''") + "'";
  }

  static final String LOG4J_PROPERTIES = String.join("\n",
      "# log4j 2 configuration of the local Flink cluster: one file per process (-Dlog.file)",
      "monitorInterval = 30",
      "rootLogger.level = INFO",
      "rootLogger.appenderRef.file.ref = MainAppender",
      "logger.pekko.name = org.apache.pekko",
      "logger.pekko.level = INFO",
      "logger.kafka.name = org.apache.kafka",
      "logger.kafka.level = INFO",
      "logger.hadoop.name = org.apache.hadoop",
      "logger.hadoop.level = WARN",
      "logger.zookeeper.name = org.apache.zookeeper",
      "logger.zookeeper.level = INFO",
      "logger.shaded_zookeeper.name = org.apache.flink.shaded.zookeeper3",
      "logger.shaded_zookeeper.level = INFO",
      "logger.netty.name = org.jboss.netty.channel.DefaultChannelPipeline",
      "logger.netty.level = OFF",
      "appender.main.name = MainAppender",
      "appender.main.type = RollingFile",
      "appender.main.append = true",
      "appender.main.fileName = ${sys:log.file}",
      "appender.main.filePattern = ${sys:log.file}.%i",
      "appender.main.layout.type = PatternLayout",
      "appender.main.layout.pattern = %d{yyyy-MM-dd HH:mm:ss,SSS} %-5p %-60c %x - %m%n",
      "appender.main.policies.type = Policies",
      "appender.main.policies.size.type = SizeBasedTriggeringPolicy",
      "appender.main.policies.size.size = 100MB",
      "appender.main.strategy.type = DefaultRolloverStrategy",
      "appender.main.strategy.max = 5",
      "");

  // ---------------------------------------------------------------- small helpers

  private static int freePort() {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(LOOPBACK))) {
      s.setReuseAddress(true);
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot find a free port on " + LOOPBACK, e);
    }
  }

  private static void clearFolder(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.toList()) {
        Files.deleteIfExists(f);
      }
    }
  }

  private static void deleteQuietly(Path p) {
    try {
      Files.deleteIfExists(p);
    } catch (IOException e) {
      // a stale pid file is harmless: stop and status check the command line
    }
  }

  private static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }
}

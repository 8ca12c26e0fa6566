package dev.moaa.runners.training;

import dev.moaa.transforms.client.Redactor;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moaa.pipelines.CommandTemplate;
import dev.moaa.pipelines.TrainSettings;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs the trainer ({@code python -m moaa_training}, see runners/training) as a child process, the
 * last step of a pipeline command or on its own ({@code moaa train}), never from inside a pipeline.
 *
 * <p>The local launcher starts {@code PYTHON -m moaa_training ARGS}, under {@code torchrun} or
 * {@code accelerate launch} for several processes; the command launcher renders the configured
 * template (a scheduler's {@code sbatch --wait …}) into an argument vector, never through a shell.
 * The child inherits the environment (API keys stay there, never on its command line) plus {@code
 * PYTHONUNBUFFERED=1} so its lines arrive as they are written, and the project's {@code
 * runners/training} first on {@code PYTHONPATH}. Every line of its output (standard error merged in, in order) is printed to {@code out}
 * with a {@code [train STAGE]} prefix and, when given, appended to a log file; secrets are masked. Success is exit 0 and a checkpoint: the path
 * of the trainer's last {@code moaa-training: checkpoint PATH} line, else the {@code checkpoint} of
 * {@code OUTPUT_DIR/training_complete.json}, which the trainer writes last (a stale one is removed
 * before the launch).
 */
public final class TrainingLauncher {
  public static final String CHECKPOINT_LINE = "moaa-training: checkpoint ";
  public static final String COMPLETE_FILE = "training_complete.json";
  public static final String PYTHON_ENV = "MOAA_PYTHON";
  static final int TAIL_LINES = 40;
  private static final ObjectMapper JSON = new ObjectMapper();

  /** One training run: what the trainer's command line says. Null fields are left to the recipe. */
  public record Job(String stage, Path recipe, List<String> data, String baseModel, Path outputDir,
      Map<String, String> overrides) {
    public Job {
      data = data == null ? List.of() : List.copyOf(data);
      overrides = overrides == null ? Map.of() : overrides;
    }
  }

  /** How a run ended. {@code checkpoint} is null when the trainer reported none. */
  public record Result(int exitCode, String checkpoint, List<String> tail, double seconds) {
    public boolean ok() {
      return exitCode == 0 && checkpoint != null;
    }

    /** The exit code a command reports: the child's, or 1 for an exit 0 without a checkpoint. */
    public int commandExitCode() {
      return exitCode != 0 ? exitCode : checkpoint == null ? 1 : 0;
    }
  }

  private final TrainSettings settings;
  private final Redactor redactor;
  private final Map<String, String> env;
  private final Map<String, String> extraEnv;
  private final Path workDir;

  private TrainingLauncher(TrainSettings settings, Redactor redactor, Map<String, String> env,
      Map<String, String> extraEnv, Path workDir) {
    this.settings = settings;
    this.redactor = redactor;
    this.env = env;
    this.extraEnv = extraEnv;
    this.workDir = workDir;
  }

  public static TrainingLauncher of(TrainSettings settings, Redactor redactor) {
    return new TrainingLauncher(settings, redactor, System.getenv(), Map.of(), null);
  }

  /** Adds variables to the child's environment (on top of this process's). */
  public TrainingLauncher withEnvironment(Map<String, String> extra) {
    Map<String, String> all = new HashMap<>(System.getenv());
    all.putAll(extra);
    return new TrainingLauncher(settings, redactor, Map.copyOf(all), Map.copyOf(extra), workDir);
  }

  /** Runs the child in {@code dir} instead of the current directory. */
  public TrainingLauncher withWorkDir(Path dir) {
    return new TrainingLauncher(settings, redactor, env, extraEnv, dir);
  }

  /**
   * The Python of a local launch: the configured one ({@code train.python} or {@code --python}),
   * else {@code $MOAA_PYTHON}, else {@code .venv/bin/python} in the current directory or in the
   * project the jar was built in, else {@code python3} from the PATH.
   */
  public String python() {
    if (settings.python() != null) {
      return settings.python().toString();
    }
    String fromEnv = env.get(PYTHON_ENV);
    if (fromEnv != null && !fromEnv.isBlank()) {
      return fromEnv.trim();
    }
    Path local = Paths.get(".venv", "bin", "python").toAbsolutePath();
    if (Files.isExecutable(local)) {
      return local.toString();
    }
    return projectRoot().map(r -> r.resolve(".venv/bin/python")).filter(Files::isExecutable)
        .map(Path::toString).orElse("python3");
  }

  /**
   * The folder holding the trainer's package ({@code runners/training}, which is not pip-installed):
   * under the current directory, the project whose {@code .venv} the Python is, or the project the
   * jar was built in. It goes first on the child's {@code PYTHONPATH}.
   */
  Optional<Path> trainerPackage() {
    List<Path> roots = new ArrayList<>();
    roots.add(Paths.get("").toAbsolutePath());
    Path py = Paths.get(python()).toAbsolutePath();
    if (py.getNameCount() >= 3 && py.getParent().getFileName().toString().equals("bin")
        && py.getParent().getParent().getFileName().toString().equals(".venv")) {
      roots.add(py.getParent().getParent().getParent());
    }
    projectRoot().ifPresent(roots::add);
    return roots.stream().map(r -> r.resolve("runners").resolve("training"))
        .filter(d -> Files.isDirectory(d.resolve("moaa_training"))).findFirst();
  }

  /** The checkout this code runs from: runners/target/{moaa.jar,classes} is three levels below it. */
  static Optional<Path> projectRoot() {
    try {
      Path here = Paths.get(TrainingLauncher.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      Path root = here.getParent() == null ? null : here.getParent().getParent();
      root = root == null ? null : root.getParent();
      return Optional.ofNullable(root);
    } catch (URISyntaxException | RuntimeException e) {
      return Optional.empty();
    }
  }

  /** The trainer's own arguments: {@code --recipe R [--stage S] [--data G…] [--base-model B] [--output-dir D] [--set k=v]…}. */
  public static List<String> trainerArgs(Job job) {
    List<String> a = new ArrayList<>();
    a.add("--recipe");
    a.add(job.recipe().toString());
    if (job.stage() != null) {
      a.add("--stage");
      a.add(job.stage());
    }
    if (!job.data().isEmpty()) {
      a.add("--data");
      a.addAll(job.data());
    }
    if (job.baseModel() != null) {
      a.add("--base-model");
      a.add(job.baseModel());
    }
    if (job.outputDir() != null) {
      a.add("--output-dir");
      a.add(job.outputDir().toString());
    }
    job.overrides().forEach((k, v) -> {
      a.add("--set");
      a.add(k + "=" + v);
    });
    return a;
  }

  /** The child's argument vector for {@code job}. */
  public List<String> argv(Job job) {
    List<String> args = trainerArgs(job);
    if (settings.launcher() == TrainSettings.Launcher.COMMAND) {
      Map<String, String> scalars = new HashMap<>();
      scalars.put("recipe", job.recipe().toString());
      scalars.put("stage", job.stage());
      scalars.put("output_dir", job.outputDir() == null ? null : job.outputDir().toString());
      scalars.put("base_model", job.baseModel());
      scalars.put("processes", String.valueOf(settings.processes()));
      scalars.put("python", python());
      return settings.command().render(scalars, Map.of("data", job.data(), "args", args));
    }
    List<String> argv = new ArrayList<>();
    argv.add(python());
    String n = String.valueOf(settings.processes());
    switch (settings.distributed()) {
      case TORCHRUN -> argv.addAll(List.of("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", n));
      case ACCELERATE -> argv.addAll(List.of("-m", "accelerate.commands.launch", "--num_processes", n));
      case NONE -> { }
    }
    argv.addAll(List.of("-m", "moaa_training"));
    argv.addAll(args);
    return argv;
  }

  /**
   * Runs {@code job} to the end, printing its output as it comes (and appending it to {@code log}
   * when not null), then a line with the checkpoint or, on failure, the exit code and the last
   * {@value #TAIL_LINES} lines.
   */
  public Result run(Job job, PrintStream out, PrintStream err, Path log) {
    String label = job.stage() == null ? "train" : "train " + job.stage();
    String prefix = "[" + label + "] ";
    List<String> argv = argv(job);
    long start = System.nanoTime();
    if (job.outputDir() != null) {
      try {
        Files.createDirectories(job.outputDir());
        Files.deleteIfExists(job.outputDir().resolve(COMPLETE_FILE));
      } catch (IOException e) {
        err.println(redactor.apply("moaa: " + label + ": cannot prepare " + job.outputDir() + ": " + e.getMessage()));
        return new Result(1, null, List.of(), 0);
      }
    }
    out.println("moaa: " + label + ": " + redactor.apply(CommandTemplate.display(argv)));
    AtomicReference<String> reported = new AtomicReference<>();
    Map<String, String> childEnv = new LinkedHashMap<>(extraEnv);
    childEnv.put("PYTHONUNBUFFERED", "1");
    trainerPackage().ifPresent(dir -> {
      String before = childEnv.containsKey("PYTHONPATH") ? childEnv.get("PYTHONPATH") : env.get("PYTHONPATH");
      childEnv.put("PYTHONPATH", before == null || before.isBlank() ? dir.toString() : dir + ":" + before);
    });
    int code;
    List<String> tail;
    LogFile opened;
    try {
      opened = LogFile.open(log);
    } catch (java.io.UncheckedIOException e) {
      err.println(redactor.apply("moaa: " + label + ": " + e.getMessage() + ": " + e.getCause().getMessage()));
      return new Result(1, null, List.of(), seconds(start));
    }
    try (LogFile file = opened) {
      ChildProcess child;
      try {
        child = ChildProcess.start("moaa-" + label.replace(' ', '-'), argv, childEnv, workDir, redactor, TAIL_LINES,
            (raw, line) -> {
              if (raw.startsWith(CHECKPOINT_LINE)) {
                reported.set(raw.substring(CHECKPOINT_LINE.length()).trim());
              }
              out.println(prefix + line);
              file.write(line);
            });
      } catch (IOException e) {
        err.println(redactor.apply("moaa: " + label + ": cannot start " + argv.get(0) + ": " + e.getMessage()));
        return new Result(127, null, List.of(), seconds(start));
      }
      try {
        code = child.waitFor();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        child.stop(java.time.Duration.ofSeconds(10));
        err.println("moaa: " + label + ": interrupted; the training process tree was stopped");
        return new Result(130, null, child.tail(), seconds(start));
      }
      tail = child.tail();
    }
    double secs = seconds(start);
    String checkpoint = code == 0 ? Optional.ofNullable(reported.get())
        .or(() -> job.outputDir() == null ? Optional.empty() : completedCheckpoint(job.outputDir())).orElse(null) : null;
    Result result = new Result(code, checkpoint, tail, secs);
    if (result.ok()) {
      out.printf(Locale.ROOT, "moaa: %s finished in %.1f s; checkpoint: %s%n", label, secs, redactor.apply(checkpoint));
    } else {
      err.printf(Locale.ROOT, "moaa: %s failed after %.1f s: %s; the last %d line(s) of its output:%n", label, secs,
          code != 0 ? "exit code " + code
              : "exit code 0 but no checkpoint (no '" + CHECKPOINT_LINE.trim() + "' line"
                  + (job.outputDir() == null ? "" : ", no " + redactor.apply(job.outputDir().resolve(COMPLETE_FILE).toString()))
                  + ")",
          tail.size());
      tail.forEach(l -> err.println("  | " + l));
    }
    return result;
  }

  /** The checkpoint a finished run recorded in {@code dir/training_complete.json}, if there is one. */
  public static Optional<String> completedCheckpoint(Path dir) {
    return readComplete(dir).map(n -> n.path("checkpoint").asText(null))
        .filter(s -> !s.isBlank()).map(s -> dir.resolve(s).toString());
  }

  /** {@code dir/training_complete.json}, if present and readable. */
  public static Optional<JsonNode> readComplete(Path dir) {
    Path f = dir.resolve(COMPLETE_FILE);
    if (!Files.isRegularFile(f)) {
      return Optional.empty();
    }
    try {
      JsonNode n = JSON.readTree(f.toFile());
      return n != null && n.isObject() ? Optional.of(n) : Optional.empty();
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  private static double seconds(long startNanos) {
    return (System.nanoTime() - startNanos) / 1e9;
  }
}

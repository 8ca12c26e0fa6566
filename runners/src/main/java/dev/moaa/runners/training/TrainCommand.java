package dev.moaa.runners.training;

import dev.moaa.transforms.client.Redactor;
import dev.moaa.pipelines.CommandTemplate;
import dev.moaa.pipelines.ConfigException;
import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.TrainSettings;
import dev.moaa.transforms.client.ModelEndpoint;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code moaa train}: the trainer on its own, through the same launcher as the pipelines' final
 * step.
 *
 * <pre>
 * moaa train --recipe=R.yaml [--stage=sft|dpo] [--data=GLOB[,GLOB]] [--base-model=PATH] [--output-dir=DIR]
 *            [--set=key=value]… [--config=C.yaml] [--launcher=local|command] [--command=TEMPLATE]
 *            [--processes=N] [--distributed=none|torchrun|accelerate] [--python=PATH]
 * </pre>
 *
 * <p>With {@code --config}, the launcher settings, the stage's recipe and its overrides come from
 * the file's {@code train:} section, and flags win. Exit codes: the trainer's; 0 when it finished
 * with a checkpoint; 1 when it exited 0 without one; 2 for bad flags or configuration.
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Runs the trainer on its own, through the same launcher as the pipelines' final step.",
        "With --config, the launcher settings, the stage's recipe and its overrides come from the file's train:"
            + " section, and flags win."},
    footer = "%nExit codes: the trainer's; 0 when it finished with a checkpoint; 1 when it exited 0 without one;"
        + " 2 for bad flags or configuration.")
public final class TrainCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--recipe", paramLabel = "R.yaml", description = "The training recipe (or the stage's recipe in --config).")
  String recipe;

  @Option(names = "--stage", paramLabel = "sft|dpo", description = "The stage to train.")
  String stage;

  @Option(names = "--data", paramLabel = "GLOB[,GLOB]", description = "Parquet shards to train on.")
  String data;

  @Option(names = "--base-model", paramLabel = "PATH", description = "The model to start from.")
  String baseModel;

  @Option(names = "--output-dir", paramLabel = "DIR", description = "Where the checkpoint and train.log go.")
  String outputDir;

  @Option(names = "--set", paramLabel = "key=value", description = "Overrides one recipe field (repeatable).")
  List<String> set = new ArrayList<>();

  @Option(names = "--config", paramLabel = "C.yaml", description = "A config whose train: section gives the defaults.")
  String config;

  @Option(names = "--launcher", paramLabel = "local|command", description = "How the trainer is started.")
  String launcher;

  @Option(names = "--command", paramLabel = "TEMPLATE", description = "The command template of --launcher=command.")
  String command;

  @Option(names = "--processes", paramLabel = "N", description = "Training processes (1 to 4096).")
  String processes;

  @Option(names = "--distributed", paramLabel = "none|torchrun|accelerate", description = "How several processes are started.")
  String distributed;

  @Option(names = "--python", paramLabel = "PATH", description = "The Python interpreter of the local launcher.")
  String python;

  private final PrintStream out;
  private final PrintStream err;

  public TrainCommand(PrintStream out, PrintStream err) {
    this.out = out;
    this.err = err;
  }

  /** The flags given, by name, as the launcher settings below read them. */
  private Map<String, List<String>> given() {
    Map<String, List<String>> flags = new TreeMap<>();
    java.util.function.BiConsumer<String, String> put = (name, value) -> {
      if (value != null) {
        flags.put(name, List.of(value));
      }
    };
    put.accept("recipe", recipe);
    put.accept("stage", stage);
    put.accept("data", data);
    put.accept("base-model", baseModel);
    put.accept("output-dir", outputDir);
    put.accept("config", config);
    put.accept("launcher", launcher);
    put.accept("command", command);
    put.accept("processes", processes);
    put.accept("distributed", distributed);
    put.accept("python", python);
    if (!set.isEmpty()) {
      flags.put("set", List.copyOf(set));
    }
    return flags;
  }

  @Override
  public Integer call() {
    TrainingLauncher launcher;
    TrainingLauncher.Job job;
    try {
      Map<String, List<String>> flags = given();
      MoaaConfig config = flags.containsKey("config") ? MoaaConfig.load(Paths.get(one(flags, "config"))) : null;
      TrainSettings settings = config == null ? TrainSettings.defaults()
          : config.train().orElse(TrainSettings.defaults());
      String stage = flags.containsKey("stage") ? one(flags, "stage") : null;
      if (stage != null && !TrainSettings.STAGES.contains(stage)) {
        throw new IllegalArgumentException("--stage must be one of " + TrainSettings.STAGES + ", got '" + stage + "'");
      }
      TrainSettings.Stage fromConfig = stage == null ? TrainSettings.Stage.EMPTY
          : settings.stage(stage).orElse(TrainSettings.Stage.EMPTY);
      Path recipe;
      if (flags.containsKey("recipe")) {
        recipe = Paths.get(one(flags, "recipe")).toAbsolutePath().normalize();
      } else if (fromConfig.recipe() != null) {
        recipe = fromConfig.recipe();
      } else {
        throw new IllegalArgumentException("--recipe=FILE is required"
            + (config == null ? "" : " (or --stage with a recipe in the config's train section)"));
      }
      if (!Files.isRegularFile(recipe)) {
        throw new IllegalArgumentException("--recipe: no such file: " + recipe);
      }
      Map<String, String> overrides = new TreeMap<>(fromConfig.overrides());
      for (String kv : flags.getOrDefault("set", List.of())) {
        int eq = kv.indexOf('=');
        if (eq <= 0 || !kv.substring(0, eq).matches("[A-Za-z_][A-Za-z0-9_.]*")) {
          throw new IllegalArgumentException("--set needs key=value, got '" + kv + "'");
        }
        overrides.put(kv.substring(0, eq), kv.substring(eq + 1));
      }
      settings = override(settings, flags);
      List<String> data = flags.containsKey("data")
          ? Arrays.stream(one(flags, "data").split(",")).map(String::trim).filter(s -> !s.isEmpty())
              .map(s -> Paths.get(s).toAbsolutePath().normalize().toString()).toList()
          : List.of();
      Path outputDir = flags.containsKey("output-dir")
          ? Paths.get(one(flags, "output-dir")).toAbsolutePath().normalize() : null;
      String baseModel = flags.containsKey("base-model") ? one(flags, "base-model") : null;
      job = new TrainingLauncher.Job(stage, recipe, data, baseModel, outputDir, overrides);
      launcher = TrainingLauncher.of(settings, redactor(config));
    } catch (ConfigException e) {
      throw new ParameterException(spec.commandLine(), "configuration error: " + e.getMessage());
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
    Path log = job.outputDir() == null ? null : job.outputDir().resolve("train.log");
    return launcher.run(job, out, err, log).commandExitCode();
  }

  /** Masks the config's key variables and any credential-like variable of the environment. */
  public static Redactor redactor(MoaaConfig config) {
    List<String> names = new ArrayList<>();
    if (config != null) {
      config.models().values().stream().map(ModelEndpoint::apiKeyEnv).forEach(names::add);
      config.serve().ifPresent(s -> names.add(s.apiKeyEnv()));
    }
    return Redactor.forEnvironment(System.getenv(), names);
  }

  private static TrainSettings override(TrainSettings s, Map<String, List<String>> flags) {
    if (flags.containsKey("command")) {
      try {
        s = s.withLauncher(TrainSettings.Launcher.COMMAND, CommandTemplate.parse(one(flags, "command"),
            TrainSettings.SCALAR_PLACEHOLDERS, TrainSettings.LIST_PLACEHOLDERS));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("--command: " + e.getMessage());
      }
    }
    if (flags.containsKey("launcher")) {
      TrainSettings.Launcher l = TrainSettings.launcher(one(flags, "launcher"), "--launcher");
      if (l == TrainSettings.Launcher.COMMAND && s.command() == null) {
        throw new IllegalArgumentException("--launcher=command needs --command=TEMPLATE or train.command in --config");
      }
      s = s.withLauncher(l, l == TrainSettings.Launcher.LOCAL ? null : s.command());
    }
    int processes = s.processes();
    if (flags.containsKey("processes")) {
      try {
        processes = Integer.parseInt(one(flags, "processes"));
      } catch (NumberFormatException e) {
        processes = 0;
      }
      if (processes < 1 || processes > 4096) {
        throw new IllegalArgumentException("--processes must be a whole number from 1 to 4096");
      }
    }
    TrainSettings.Distributed d = flags.containsKey("distributed")
        ? TrainSettings.distributed(one(flags, "distributed"), "--distributed")
        : flags.containsKey("processes") && s.distributed() == TrainSettings.Distributed.NONE && processes > 1
            ? TrainSettings.Distributed.TORCHRUN : s.distributed();
    TrainSettings.checkProcesses(processes, d);
    s = s.withProcesses(processes, d);
    if (flags.containsKey("python")) {
      Path p = Paths.get(one(flags, "python")).toAbsolutePath().normalize();
      if (!Files.isExecutable(p)) {
        throw new IllegalArgumentException("--python: no executable at " + p);
      }
      s = s.withPython(p);
    }
    return s;
  }

  private static String one(Map<String, List<String>> flags, String name) {
    String v = flags.get(name).get(0);
    if (v.isBlank()) {
      throw new IllegalArgumentException("--" + name + " needs a value");
    }
    return v;
  }

}

package dev.moaa.runners.training;

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
import java.util.Set;
import java.util.TreeMap;

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
public final class TrainCommand {
  private static final Set<String> FLAGS = Set.of("recipe", "stage", "data", "base-model", "output-dir", "set",
      "config", "launcher", "command", "processes", "distributed", "python");

  private TrainCommand() {}

  public static int run(String[] args, PrintStream out, PrintStream err) {
    TrainingLauncher launcher;
    TrainingLauncher.Job job;
    try {
      Map<String, List<String>> flags = flags(args);
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
      err.println("moaa train: configuration error: " + e.getMessage());
      return 2;
    } catch (IllegalArgumentException e) {
      err.println("moaa train: " + e.getMessage());
      err.println(usage());
      return 2;
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

  private static Map<String, List<String>> flags(String[] args) {
    Map<String, List<String>> flags = new TreeMap<>();
    for (String a : args) {
      int eq = a.indexOf('=');
      if (!a.startsWith("--") || eq < 0) {
        throw new IllegalArgumentException("unexpected argument '" + a + "' (flags look like --name=value)");
      }
      String name = a.substring(2, eq);
      if (!FLAGS.contains(name)) {
        throw new IllegalArgumentException("unknown flag --" + name);
      }
      List<String> values = flags.computeIfAbsent(name, k -> new ArrayList<>());
      if (!name.equals("set") && !values.isEmpty()) {
        throw new IllegalArgumentException("--" + name + " given twice");
      }
      values.add(a.substring(eq + 1));
    }
    return flags;
  }

  private static String one(Map<String, List<String>> flags, String name) {
    String v = flags.get(name).get(0);
    if (v.isBlank()) {
      throw new IllegalArgumentException("--" + name + " needs a value");
    }
    return v;
  }

  static String usage() {
    return "usage: moaa train --recipe=R.yaml [--stage=sft|dpo] [--data=GLOB[,GLOB]] [--base-model=PATH]\n"
        + "       [--output-dir=DIR] [--set=key=value]... [--config=C.yaml] [--launcher=local|command]\n"
        + "       [--command=TEMPLATE] [--processes=N] [--distributed=none|torchrun|accelerate] [--python=PATH]";
  }
}

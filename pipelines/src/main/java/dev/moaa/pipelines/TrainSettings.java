package dev.moaa.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * The {@code train:} section: how the trainer ({@code python -m moaa_training}) is launched, with
 * which recipe per stage, and after which pipelines.
 *
 * <pre>
 * train:
 *   recipe: recipes/moaa.yaml       # the trainer's YAML recipe, for every stage without its own
 *   set: {max_steps: 200}           # --set key=value overrides, for every stage
 *   sft: {recipe: recipes/sft.yaml, set: {learning_rate: 8.0e-6}}
 *   dpo: {recipe: recipes/dpo.yaml, set: {beta: 0.1}}
 *   after: [sft, dpo]               # `moaa sft` / `moaa dpo` train on their shards when done (default: [])
 *   launcher: local                 # local (default) | command
 *   processes: 1                    # training processes on this machine (local launcher)
 *   distributed: torchrun           # none | torchrun | accelerate (default: none for 1 process, else torchrun)
 *   python: .venv/bin/python        # default: $MOAA_PYTHON, ./.venv/bin/python, the project's .venv, python3
 *   command: "sbatch --wait train.sh {args}"   # launcher: command; placeholders below
 * </pre>
 *
 * <p>Paths are resolved against the folder of the config file. Placeholders of {@code command}:
 * {@code {recipe} {stage} {data} {output_dir} {base_model} {processes} {python} {args}}; {@code
 * {args}} is the trainer's whole argument list ({@code --recipe … --stage … --data … --output-dir …
 * [--base-model …] [--set k=v …]}).
 */
public record TrainSettings(Map<String, Stage> stages, Stage shared, Set<String> after, Launcher launcher,
    int processes, Distributed distributed, Path python, CommandTemplate command) {

  /** The two training stages, in loop order. */
  public static final List<String> STAGES = List.of("sft", "dpo");
  public static final Set<String> SCALAR_PLACEHOLDERS =
      Set.of("recipe", "stage", "output_dir", "base_model", "processes", "python");
  public static final Set<String> LIST_PLACEHOLDERS = Set.of("data", "args");

  private static final Set<String> KEYS = Set.of("recipe", "set", "sft", "dpo", "after", "launcher", "processes",
      "distributed", "python", "command");
  private static final Set<String> STAGE_KEYS = Set.of("recipe", "set");

  /** How the trainer is started. */
  public enum Launcher { LOCAL, COMMAND }

  /** How a local launch starts several processes. */
  public enum Distributed { NONE, TORCHRUN, ACCELERATE }

  /** A stage's recipe (null: none given here) and its {@code --set} overrides, sorted by key. */
  public record Stage(Path recipe, Map<String, String> overrides) {
    public static final Stage EMPTY = new Stage(null, Map.of());
  }

  /** Launcher settings with nothing configured: local, one process, the default Python. */
  public static TrainSettings defaults() {
    return new TrainSettings(Map.of(), Stage.EMPTY, Set.of(), Launcher.LOCAL, 1, Distributed.NONE, null, null);
  }

  /**
   * The recipe and overrides of {@code stage}: its own recipe or the shared one, the shared
   * overrides then its own (its own win). Empty when neither names a recipe.
   */
  public Optional<Stage> stage(String stage) {
    Stage own = stages.getOrDefault(stage, Stage.EMPTY);
    Path recipe = own.recipe() != null ? own.recipe() : shared.recipe();
    if (recipe == null) {
      return Optional.empty();
    }
    Map<String, String> overrides = new TreeMap<>(shared.overrides());
    overrides.putAll(own.overrides());
    return Optional.of(new Stage(recipe, Collections.unmodifiableMap(overrides)));
  }

  public boolean trainsAfter(String pipeline) {
    return after.contains(pipeline);
  }

  public TrainSettings withLauncher(Launcher l, CommandTemplate c) {
    return new TrainSettings(stages, shared, after, l, processes, distributed, python, c);
  }

  public TrainSettings withProcesses(int n, Distributed d) {
    return new TrainSettings(stages, shared, after, launcher, n, d, python, command);
  }

  public TrainSettings withPython(Path p) {
    return new TrainSettings(stages, shared, after, launcher, processes, distributed, p, command);
  }

  /** Parses the section; {@code null} when the file has none. */
  static TrainSettings parse(JsonNode n, Path baseDir) {
    if (n.isMissingNode()) {
      return null;
    }
    String p = "train";
    MoaaConfig.onlyKnown(n, p, KEYS);
    Stage shared = stage(n, p, baseDir);
    Map<String, Stage> stages = new LinkedHashMap<>();
    for (String s : STAGES) {
      if (n.has(s)) {
        MoaaConfig.onlyKnown(n.get(s), p + "." + s, STAGE_KEYS);
        stages.put(s, stage(n.get(s), p + "." + s, baseDir));
      }
    }
    Set<String> after = new LinkedHashSet<>();
    if (n.has("after")) {
      JsonNode a = n.get("after");
      if (!a.isArray()) {
        throw new ConfigException(p + ".after", "must be a list of stages: " + STAGES);
      }
      for (int i = 0; i < a.size(); i++) {
        String s = a.get(i).asText();
        String at = p + ".after[" + i + "]";
        if (!STAGES.contains(s)) {
          throw new ConfigException(at, "unknown stage '" + s + "'; stages: " + STAGES);
        }
        Stage own = stages.getOrDefault(s, Stage.EMPTY);
        if (own.recipe() == null && shared.recipe() == null) {
          throw new ConfigException(at, "training after " + s + " needs a recipe: train.recipe or train." + s + ".recipe");
        }
        after.add(s);
      }
    }
    CommandTemplate command = null;
    if (n.has("command")) {
      try {
        command = CommandTemplate.parse(MoaaConfig.text(n, "command", p), SCALAR_PLACEHOLDERS, LIST_PLACEHOLDERS);
      } catch (IllegalArgumentException e) {
        throw new ConfigException(p + ".command", e.getMessage());
      }
    }
    Launcher launcher = command == null ? Launcher.LOCAL : Launcher.COMMAND;
    if (n.has("launcher")) {
      launcher = launcher(MoaaConfig.text(n, "launcher", p), p + ".launcher");
      if (launcher == Launcher.COMMAND && command == null) {
        throw new ConfigException(p + ".command", "missing required field (launcher: command runs this command)");
      }
      if (launcher == Launcher.LOCAL && command != null) {
        throw new ConfigException(p + ".command", "only used with launcher: command");
      }
    }
    int processes = MoaaConfig.intIn(n, "processes", p, 1, 4096, 1);
    Distributed distributed = n.has("distributed")
        ? distributed(MoaaConfig.text(n, "distributed", p), p + ".distributed")
        : processes > 1 ? Distributed.TORCHRUN : Distributed.NONE;
    try {
      checkProcesses(processes, distributed);
    } catch (IllegalArgumentException e) {
      throw new ConfigException(p + ".distributed", e.getMessage());
    }
    Path python = null;
    if (n.has("python")) {
      python = baseDir.resolve(MoaaConfig.text(n, "python", p)).normalize();
      if (!Files.isExecutable(python)) {
        throw new ConfigException(p + ".python", "no executable at " + python);
      }
    }
    return new TrainSettings(Map.copyOf(stages), shared, Set.copyOf(after), launcher, processes, distributed, python,
        command);
  }

  /** {@code none} runs exactly one process. */
  public static void checkProcesses(int processes, Distributed d) {
    if (d == Distributed.NONE && processes != 1) {
      throw new IllegalArgumentException("'none' runs one process, but processes is " + processes
          + "; use torchrun or accelerate");
    }
  }

  public static Launcher launcher(String v, String path) {
    try {
      return Launcher.valueOf(v.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new ConfigException(path, "must be local or command, got '" + v + "'");
    }
  }

  public static Distributed distributed(String v, String path) {
    try {
      return Distributed.valueOf(v.toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new ConfigException(path, "must be none, torchrun or accelerate, got '" + v + "'");
    }
  }

  private static Stage stage(JsonNode n, String p, Path baseDir) {
    Path recipe = null;
    if (n.has("recipe")) {
      recipe = baseDir.resolve(MoaaConfig.text(n, "recipe", p)).normalize();
      if (!Files.isRegularFile(recipe)) {
        throw new ConfigException(p + ".recipe", "no such file: " + recipe);
      }
    }
    Map<String, String> overrides = new TreeMap<>();
    if (n.has("set")) {
      JsonNode s = n.get("set");
      if (!s.isObject()) {
        throw new ConfigException(p + ".set", "must be a mapping of recipe keys to values");
      }
      s.fields().forEachRemaining(e -> {
        String at = p + ".set." + e.getKey();
        if (!e.getKey().matches("[A-Za-z_][A-Za-z0-9_.]*")) {
          throw new ConfigException(at, "not a recipe key");
        }
        if (!e.getValue().isValueNode() || e.getValue().isNull()) {
          throw new ConfigException(at, "must be a string, number or boolean");
        }
        overrides.put(e.getKey(), e.getValue().asText());
      });
    }
    return new Stage(recipe, Collections.unmodifiableMap(overrides));
  }
}

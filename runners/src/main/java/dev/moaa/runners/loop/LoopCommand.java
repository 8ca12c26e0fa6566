package dev.moaa.runners.loop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moaa.pipelines.ConfigException;
import dev.moaa.pipelines.DpoPipeline;
import dev.moaa.pipelines.LoopSettings;
import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.RunCommand;
import dev.moaa.pipelines.ServeSettings;
import dev.moaa.pipelines.RunKind;
import dev.moaa.pipelines.RunRequest;
import dev.moaa.pipelines.SftPipeline;
import dev.moaa.pipelines.StepConfigs;
import dev.moaa.pipelines.TrainSettings;
import dev.moaa.runners.cli.Cli;
import dev.moaa.runners.cli.RunFlags;
import dev.moaa.runners.launch.Launch;
import dev.moaa.runners.launch.RunnerDefaults;
import dev.moaa.transforms.client.Redactor;
import dev.moaa.runners.training.TrainAfterRun;
import dev.moaa.runners.training.TrainingLauncher;
import dev.moaa.transforms.client.ModelEndpoint;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import org.apache.beam.sdk.io.FileSystems;
import org.apache.beam.sdk.io.fs.EmptyMatchTreatment;
import org.apache.beam.sdk.io.fs.MatchResult;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;

/**
 * {@code moaa run --config=FILE [--output=DIR] [--sft-input=GLOB] [--dpo-input=GLOB] [Beam flags]}:
 * the whole MoAA loop in one folder.
 *
 * <ol>
 *   <li>{@code sft-data}: the SFT pipeline on the corpus, into {@code OUTPUT/sft-data};
 *   <li>{@code sft-train}: the trainer's SFT stage on those shards, into {@code OUTPUT/sft-model};
 *   <li>{@code serve-policy}: the serve command with the SFT checkpoint, until {@code /v1/models} answers;
 *   <li>{@code dpo-data}: the DPO pipeline on the prompts, its policy the served model, into {@code
 *       OUTPUT/dpo-data}; then the server is stopped (also when the step fails);
 *   <li>{@code dpo-train}: the trainer's DPO stage from the SFT checkpoint, into {@code OUTPUT/dpo-model}.
 * </ol>
 *
 * <p>A step is skipped when its output is complete and was made from the same things: the data
 * steps' manifests say DONE, reconciled, with the config hash of the file the step would get now;
 * the training steps' {@code training_complete.json} exists; and {@code loop.json} records the same
 * fingerprint (config, inputs, recipe, overrides and the step before). So a failed loop, run again,
 * resumes at the step that failed, and changing a recipe redoes that training and what follows it.
 *
 * <p>With several rounds ({@code loop.rounds} or {@code --rounds}), each round runs these steps in
 * {@code OUTPUT/round-N}; round r &gt;= 2 serves round r-1's DPO model during its SFT data and puts
 * it into the mixture in the roles of {@code loop.join_as}, and trains from the base model or from
 * round r-1's ({@code loop.train_from}). After each round, {@link RoundComparisons} puts its model
 * against the round before's and the base model, and {@link LoopReport} writes the loop's summary.
 * Exit codes: 0 the loop completed, 1 a step failed, 2 bad flags or configuration.
 */
public final class LoopCommand {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Plan plan;
  private final PrintStream out;
  private final PrintStream err;
  private LoopState state;
  private int stepNumber;
  /** The folder of the round under way: the loop's folder, or OUTPUT/round-N when there are several rounds. */
  private Path dir;
  /** The round under way (1 when the loop has one round) and its label in the step lines. */
  private int round = 1;
  private String roundTag = "";

  private LoopCommand(Plan plan, PrintStream out, PrintStream err) {
    this.plan = plan;
    this.out = out;
    this.err = err;
  }

  /** {@code moaa run ARGS}: the exit code. */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    return Cli.execute(new Run(out, err), args, out, err);
  }

  /** {@code moaa run}: its flags, read once; the loop itself starts after {@link Plan#of} has checked them. */
  @Command(name = "run", mixinStandardHelpOptions = true, sortOptions = false,
      description = {"The whole loop: SFT data, SFT training, serve the SFT model, DPO data, DPO training.",
          "Each step is recorded in OUTPUT/loop.json; a stopped loop resumes at the step it stopped. With",
          "--rounds=N, round r >= 2 adds round r-1's model to the mixture, and a head-to-head after each round says",
          "whether it helped (OUTPUT/loop-summary.json, OUTPUT/loop-report.html)."},
      footer = "%nBeam's own flags (--runner, ...) pass through to both data steps.%nExit codes: 0 the loop finished;"
          + " 1 a step failed; 2 bad flags or configuration.")
  public static final class Run implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE", required = true,
        description = "The YAML configuration file, with train: and serve: sections.")
    Path config;

    @Option(names = "--output", paramLabel = "DIR", description = "The loop's folder (default: loop.output of the config).")
    Path output;

    @Option(names = "--sft-input", paramLabel = "GLOB[,GLOB]", description = "The SFT corpus (default: loop.sft_input).")
    String sftInput;

    @Option(names = "--dpo-input", paramLabel = "GLOB[,GLOB]",
        description = "The DPO prompts (default: loop.dpo_input, else the SFT corpus).")
    String dpoInput;

    @Option(names = "--rounds", paramLabel = "N",
        description = "Self-improvement rounds: round r >= 2 puts round r-1's model into the mixture (default:"
            + " loop.rounds, else 1).")
    Integer rounds;

    @Mixin RunFlags flags;

    @Unmatched List<String> beamFlags = new ArrayList<>();

    private final PrintStream out;
    private final PrintStream err;

    public Run(PrintStream out, PrintStream err) {
      this.out = out;
      this.err = err;
    }

    @Override
    public Integer call() {
      Cli.checkPassThrough(spec, beamFlags);
      for (String f : beamFlags) {
        if (f.startsWith("--input=") || f.startsWith("--overwrite")) {
          throw new ParameterException(spec.commandLine(), Cli.flagName(f)
              + " is set by moaa run itself (use --sft-input and --dpo-input for the inputs)");
        }
      }
      Cli.beamOptions(spec, beamFlags); // a misspelt Beam flag is named before the config is read
      if (rounds != null && (rounds < 1 || rounds > 100)) {
        throw new ParameterException(spec.commandLine(), "--rounds must be from 1 to 100");
      }
      Plan plan;
      try {
        plan = Plan.of(this);
      } catch (ConfigException e) {
        throw new ParameterException(spec.commandLine(), "configuration error: " + e.getMessage());
      } catch (IllegalArgumentException e) {
        throw new ParameterException(spec.commandLine(), e.getMessage());
      }
      return new LoopCommand(plan, out, err).loop();
    }
  }

  /** Everything the loop needs, checked before the first step. */
  record Plan(Path configFile, MoaaConfig config, Path output, List<String> sftInput, List<String> dpoInput,
      List<String> beamFlags, RunFlags runFlags, int rounds, List<String> joinAs, boolean trainFromPrevious,
      boolean compare, String compareBench, int compareLimit, TrainSettings train, TrainSettings.Stage sftStage, TrainSettings.Stage dpoStage,
      ServeSettings serve, Redactor redactor) {

    static Plan of(Run flags) {
      Path configFile = flags.config.toAbsolutePath().normalize();
      MoaaConfig config = MoaaConfig.load(configFile);
      config.sft();
      config.dpo();
      TrainSettings train = config.train().orElseThrow(() ->
          new ConfigException("train", "missing required section for moaa run (recipes of the sft and dpo stages)"));
      TrainSettings.Stage sft = train.stage("sft").orElseThrow(() ->
          new ConfigException("train.sft.recipe", "missing: moaa run trains the sft stage (or set train.recipe)"));
      TrainSettings.Stage dpo = train.stage("dpo").orElseThrow(() ->
          new ConfigException("train.dpo.recipe", "missing: moaa run trains the dpo stage (or set train.recipe)"));
      ServeSettings serve = config.serve().orElseThrow(() ->
          new ConfigException("serve", "missing required section for moaa run (how to serve the SFT model)"));
      if (serve.apiKeyEnv() != null && (System.getenv(serve.apiKeyEnv()) == null
          || System.getenv(serve.apiKeyEnv()).isBlank())) {
        throw new ConfigException("serve.api_key_env", "environment variable " + serve.apiKeyEnv() + " is not set");
      }
      Optional<LoopSettings> loop = config.loop();
      String output = flags.output != null ? flags.output.toAbsolutePath().toString()
          : loop.map(LoopSettings::output).orElse(null);
      if (output == null) {
        throw new IllegalArgumentException("the loop needs a folder: --output=DIR or loop.output in the config");
      }
      List<String> sftInput = flags.sftInput != null ? globs(flags.sftInput)
          : loop.map(LoopSettings::sftInput).orElse(List.of());
      List<String> dpoInput = flags.dpoInput != null ? globs(flags.dpoInput)
          : loop.map(LoopSettings::dpoInput).filter(l -> !l.isEmpty()).orElse(sftInput);
      if (sftInput.isEmpty()) {
        throw new IllegalArgumentException("the loop needs a corpus: --sft-input=GLOB or loop.sft_input");
      }
      FileSystems.setDefaultPipelineOptions(PipelineOptionsFactory.create());
      List<String> names = new ArrayList<>();
      config.models().values().stream().map(ModelEndpoint::apiKeyEnv).forEach(names::add);
      names.add(serve.apiKeyEnv());
      Plan plan = new Plan(configFile, config, Paths.get(output).normalize(), sftInput, dpoInput, List.copyOf(flags.beamFlags), flags.flags,
          flags.rounds != null ? flags.rounds : loop.map(LoopSettings::rounds).orElse(1),
          loop.map(LoopSettings::joinAs).orElse(List.of("proposer")),
          loop.map(LoopSettings::trainFromPrevious).orElse(false), loop.map(LoopSettings::compare).orElse(true),
          loop.map(LoopSettings::compareBench).orElse("arena_hard_v0.1"), loop.map(LoopSettings::compareLimit).orElse(50),
          train, sft, dpo, serve, Redactor.forEnvironment(System.getenv(), names));
      plan.inputFiles(sftInput, "--sft-input");
      plan.inputFiles(dpoInput, "--dpo-input");
      // the data steps' configs, checked now rather than after hours of training
      plan.stepConfig(StepConfigs.sftData(configFile));
      plan.stepConfig(StepConfigs.dpoData(configFile, serve.baseUrl(), serve.modelFor("checkpoint"),
          serve.apiKeyEnv(), "checked-before-training"));
      return plan;
    }

    private static List<String> globs(String flag) {
      return Arrays.stream(flag.split(",")).map(String::trim).filter(s -> !s.isEmpty())
          .map(s -> s.matches("[A-Za-z][A-Za-z0-9+.-]*://.*") ? s : Paths.get(s).toAbsolutePath().toString()).toList();
    }

    /** Each matched file with its size, in order: what the data was made from. */
    List<String> inputFiles(List<String> patterns, String what) {
      List<String> files = new ArrayList<>();
      for (String p : patterns) {
        try {
          MatchResult m = FileSystems.match(p, EmptyMatchTreatment.ALLOW);
          if (m.status() != MatchResult.Status.OK || m.metadata().isEmpty()) {
            throw new IllegalArgumentException(what + " " + p + " matches no file");
          }
          m.metadata().stream().map(md -> md.resourceId() + " " + md.sizeBytes()).sorted().forEach(files::add);
        } catch (IOException e) {
          throw new IllegalArgumentException(what + " " + p + ": " + e.getMessage());
        }
      }
      return files;
    }

    MoaaConfig stepConfig(String yaml) {
      return MoaaConfig.parse(yaml, System::getenv, configFile.getParent());
    }

    List<String> fingerprintedFlags() {
      return runFlags.dataFlags();
    }
  }

  /** What a round produced: its folder, its checkpoints, and the fingerprint of its last step. */
  record Round(int number, Path dir, String sftCheckpoint, String dpoCheckpoint, String fingerprint) {}

  private int loop() {
    long start = System.nanoTime();
    Path output = plan.output();
    int rounds = plan.rounds();
    out.println("MoAA loop: " + plan.configFile() + " -> " + output + (rounds > 1 ? " (" + rounds + " rounds)" : ""));
    out.println("  SFT corpus " + plan.sftInput() + ", DPO prompts " + plan.dpoInput());
    List<Round> done = new ArrayList<>();
    try {
      Round previous = null;
      for (int r = 1; r <= rounds; r++) {
        round = r;
        dir = rounds == 1 ? output : output.resolve("round-" + r);
        roundTag = rounds == 1 ? "" : "round " + r + " ";
        stepNumber = 0;
        state = LoopState.open(dir, plan.configFile(), plan.config().hash());
        if (rounds > 1) {
          out.println("moaa run: round " + r + " of " + rounds + " in " + dir
              + (previous == null ? "" : " (round " + (r - 1) + "'s model joins as " + plan.joinAs() + ")"));
        }
        previous = runRound(previous, start);
        done.add(previous);
        if (rounds > 1 && plan.compare()) {
          RoundComparisons.compare(plan, previous, done, out, err);
        }
      }
      double secs = (System.nanoTime() - start) / 1e9;
      out.printf(Locale.ROOT, "MoAA loop DONE in %.1f s%n", secs);
      if (rounds > 1) {
        LoopReport.write(output, plan, done, out);
      } else {
        summary();
      }
      out.println("  SFT checkpoint: " + previous.sftCheckpoint());
      out.println("  DPO checkpoint: " + previous.dpoCheckpoint());
      return 0;
    } catch (StepFailure | RuntimeException f) {
      double secs = (System.nanoTime() - start) / 1e9;
      if (state != null) {
        state.finish("failed", secs);
      }
      out.printf(Locale.ROOT, "MoAA loop FAILED after %.1f s%n", secs);
      if (state != null) {
        summary();
      }
      err.println("moaa run: " + (f instanceof StepFailure ? f.getMessage() : "unexpected error: " + f));
      err.println("moaa run: run the same command again to resume at the failed step");
      return 1;
    }
  }

  /** One round's five steps in {@link #dir}; {@code previous} is the round before (null for the first). */
  private Round runRound(Round previous, long loopStart) throws StepFailure {
    long start = System.nanoTime();
    String sftData = sftData(previous);
    String base = previous != null && plan.trainFromPrevious() ? previous.dpoCheckpoint() : null;
    Trained sft = train("sft-train", "sft", plan.sftStage(), sftData,
        dir.resolve("sft-data").resolve("sft").resolve("parquet"), base, dir.resolve("sft-model"));
    state.put("sft_checkpoint", sft.checkpoint());
    String dpoData = dpoData(sft);
    Trained dpo = train("dpo-train", "dpo", plan.dpoStage(), dpoData,
        dir.resolve("dpo-data").resolve("dpo").resolve("parquet"), sft.checkpoint(), dir.resolve("dpo-model"));
    state.put("dpo_checkpoint", dpo.checkpoint());
    state.finish("done", (System.nanoTime() - start) / 1e9);
    return new Round(round, dir, sft.checkpoint(), dpo.checkpoint(), dpo.fingerprint());
  }

  private void summary() {
    for (String s : LoopState.STEPS) {
      JsonNode n = state.step(s);
      out.printf(Locale.ROOT, "  %-13s %-8s %s%n", s, n.path("status").asText(),
          n.has("seconds") ? String.format(Locale.ROOT, "%.1f s", n.path("seconds").asDouble()) : "");
    }
    out.println("  state: " + state.file());
  }

  private interface Body {
    void run() throws StepFailure;
  }

  /** Runs a step unless its output is complete and made from the same things; records what happened. */
  private void step(String name, String fingerprint, Supplier<Optional<String>> incomplete, Body body)
      throws StepFailure {
    stepNumber++;
    String tag = "moaa run: " + roundTag + "[" + stepNumber + "/" + LoopState.STEPS.size() + "] " + name;
    String recorded = state.fingerprint(name);
    Optional<String> why = recorded == null
        ? Optional.of("failed".equals(state.lastStatus(name)) || "running".equals(state.lastStatus(name))
            ? "it did not complete in the last run" : "no completed run recorded")
        : !recorded.equals(fingerprint) ? Optional.of("its config, inputs or the step before changed")
        : incomplete.get();
    if (why.isEmpty()) {
      state.skipped(name, "complete, made from the same config and inputs");
      out.println(tag + ": skipped (output complete, same config and inputs)");
      return;
    }
    out.println(tag + ": start (" + why.get() + ")");
    state.started(name);
    long t0 = System.nanoTime();
    try {
      body.run();
    } catch (StepFailure | RuntimeException e) {
      double secs = (System.nanoTime() - t0) / 1e9;
      String msg = e instanceof StepFailure ? e.getMessage() : e.toString();
      state.failed(name, msg, secs);
      out.printf(Locale.ROOT, "%s: FAILED after %.1f s%n", tag, secs);
      throw new StepFailure("step " + name + " failed: " + msg);
    }
    double secs = (System.nanoTime() - t0) / 1e9;
    state.done(name, fingerprint, secs);
    out.printf(Locale.ROOT, "%s: done in %.1f s%n", tag, secs);
  }

  /** The name a round's model has in the next round's SFT mixture. */
  static String roundModel(int round) {
    return "round-" + round;
  }

  private String sftData(Round previous) throws StepFailure {
    Path out = dir.resolve("sft-data");
    ServeSettings serve = plan.serve();
    String yaml = previous == null ? StepConfigs.sftData(plan.configFile())
        : StepConfigs.sftDataJoined(plan.configFile(), roundModel(previous.number()), serve.baseUrl(),
            serve.modelFor(previous.dpoCheckpoint()), serve.apiKeyEnv(), previous.fingerprint(), plan.joinAs());
    Path cfg = writeStepConfig("sft-data.yaml", yaml);
    MoaaConfig stepConfig = plan.stepConfig(yaml);
    String fp = fingerprint("sft-data", stepConfig.hash(), String.join(",", plan.sftInput()),
        String.join("\n", plan.inputFiles(plan.sftInput(), "--sft-input")), String.join(" ", plan.fingerprintedFlags()));
    step("sft-data", fp, () -> dataIncomplete(out, stepConfig.hash()), () -> {
      if (previous == null) {
        RunCommand.Outcome o = runData(SftPipeline.KIND, plan.sftInput(), out, stepConfig);
        checkData(o, "sft");
        return;
      }
      // round r-1's model answers in the mixture while this round's SFT data is made
      this.out.println("moaa run: " + roundTag + "serving round " + previous.number() + "'s model for the SFT data: "
          + previous.dpoCheckpoint());
      try (PolicyServer server = PolicyServer.start(serve, previous.dpoCheckpoint(), plan.redactor(),
          dir.resolve("logs").resolve("serve-previous.log"), this.out)) {
        server.awaitReady();
        RunCommand.Outcome o = runData(SftPipeline.KIND, plan.sftInput(), out, stepConfig);
        checkData(o, "sft");
      }
    });
    return fp;
  }

  /** What a training step produced: its checkpoint, and the fingerprint the next step builds on. */
  private record Trained(String checkpoint, String fingerprint) {}

  private Trained train(String name, String stage, TrainSettings.Stage s, String dataFingerprint, Path shards,
      String baseModel, Path dir) throws StepFailure {
    String fp = fingerprint(name, dataFingerprint, baseModel == null ? "" : baseModel, sha256(readBytes(s.recipe())),
        s.overrides().toString());
    TrainingLauncher.Job job = new TrainingLauncher.Job(stage, s.recipe(), List.of(shards + "/*.parquet"), baseModel,
        dir, s.overrides());
    String[] reported = new String[1];
    step(name, fp, () -> TrainingLauncher.completedCheckpoint(dir).isPresent() ? Optional.empty()
        : Optional.of("no " + TrainingLauncher.COMPLETE_FILE), () -> {
          TrainingLauncher.Result r = TrainingLauncher.of(plan.train(), plan.redactor())
              .run(job, out, err, dir.resolve("train.log"));
          if (!r.ok()) {
            throw new StepFailure(r.exitCode() != 0 ? "the trainer exited with code " + r.exitCode()
                : "the trainer exited 0 but reported no checkpoint");
          }
          reported[0] = r.checkpoint();
        });
    String checkpoint = TrainingLauncher.completedCheckpoint(dir).orElse(reported[0]);
    if (checkpoint == null) {
      throw new StepFailure("step " + name + ": no checkpoint in " + dir.resolve(TrainingLauncher.COMPLETE_FILE));
    }
    return new Trained(checkpoint, fp);
  }

  private String dpoData(Trained sft) throws StepFailure {
    Path out = dir.resolve("dpo-data");
    ServeSettings serve = plan.serve();
    String model = serve.modelFor(sft.checkpoint());
    String yaml = StepConfigs.dpoData(plan.configFile(), serve.baseUrl(), model, serve.apiKeyEnv(), sft.fingerprint());
    Path cfg = writeStepConfig("dpo-data.yaml", yaml);
    MoaaConfig stepConfig = plan.stepConfig(yaml);
    String fp = fingerprint("dpo-data", sft.fingerprint(), sft.checkpoint(), stepConfig.hash(),
        serve.command().source(), String.join(",", plan.dpoInput()),
        String.join("\n", plan.inputFiles(plan.dpoInput(), "--dpo-input")), String.join(" ", plan.fingerprintedFlags()));
    Supplier<Optional<String>> incomplete = () -> dataIncomplete(out, stepConfig.hash());
    String recorded = state.fingerprint("dpo-data");
    if (fp.equals(recorded) && incomplete.get().isEmpty()) {
      stepNumber++;
      state.skipped("serve-policy", "the DPO data is complete");
      this.out.println("moaa run: " + roundTag + "[" + stepNumber + "/" + LoopState.STEPS.size()
          + "] serve-policy: skipped (the DPO data is complete)");
      step("dpo-data", fp, incomplete, () -> { });
      return fp;
    }
    stepNumber++;
    String serveTag = "moaa run: " + roundTag + "[" + stepNumber + "/" + LoopState.STEPS.size() + "] serve-policy";
    this.out.println(serveTag + ": start (the policy for the DPO data: " + sft.checkpoint() + ")");
    state.started("serve-policy");
    long t0 = System.nanoTime();
    PolicyServer server;
    try {
      server = PolicyServer.start(serve, sft.checkpoint(), plan.redactor(),
          dir.resolve("logs").resolve("serve-policy.log"), this.out);
    } catch (StepFailure e) {
      state.failed("serve-policy", e.getMessage(), (System.nanoTime() - t0) / 1e9);
      throw new StepFailure("step serve-policy failed: " + e.getMessage());
    }
    try (server) {
      try {
        double ready = server.awaitReady();
        state.done("serve-policy", null, ready);
        this.out.printf(Locale.ROOT, "%s: done in %.1f s (serving until the DPO data is written)%n", serveTag, ready);
      } catch (StepFailure e) {
        state.failed("serve-policy", e.getMessage(), (System.nanoTime() - t0) / 1e9);
        throw new StepFailure("step serve-policy failed: " + e.getMessage());
      }
      step("dpo-data", fp, incomplete, () -> {
        RunCommand.Outcome o = runData(DpoPipeline.KIND, plan.dpoInput(), out, stepConfig);
        checkData(o, "dpo");
      });
    }
    return fp;
  }

  /** One data step: a pipeline of {@code kind} with the step's config, the user's Beam flags and run flags. */
  private RunCommand.Outcome runData(RunKind kind, List<String> inputs, Path output, MoaaConfig stepConfig) {
    RunRequest request = plan.runFlags().request(stepConfig, String.join(",", inputs), output.toString(), true);
    return Launch.run(kind, request, RunnerDefaults.options(plan.beamFlags(), stepConfig), this.out, err);
  }

  private static void checkData(RunCommand.Outcome o, String kind) throws StepFailure {
    if (o.exitCode() != 0) {
      throw new StepFailure("moaa " + kind + " exited with code " + o.exitCode());
    }
    if (o.counts().written() == 0 || TrainAfterRun.countParquet(o.output().resolve(kind).resolve("parquet")) == 0) {
      throw new StepFailure("moaa " + kind + " wrote no rows to train on (" + o.counts().line() + ")");
    }
  }

  /** Empty when {@code out} holds a DONE, reconciled run with rows, made with the config of this hash. */
  private static Optional<String> dataIncomplete(Path out, String configHash) {
    Path m = out.resolve("manifest.json");
    if (!Files.isRegularFile(m)) {
      return Optional.of("no manifest.json");
    }
    try {
      JsonNode n = JSON.readTree(m.toFile());
      if (!"DONE".equals(n.path("state").asText())) {
        return Optional.of("the last run ended " + n.path("state").asText());
      }
      if (!n.path("counts").path("reconciled").asBoolean(false)) {
        return Optional.of("the last run did not reconcile");
      }
      if (!configHash.equals(n.path("config_hash").asText())) {
        return Optional.of("the last run had another config");
      }
      if (n.path("counts").path("written").asLong(0) == 0) {
        return Optional.of("the last run wrote no rows");
      }
      return Optional.empty();
    } catch (IOException e) {
      return Optional.of("manifest.json is unreadable");
    }
  }

  private Path writeStepConfig(String name, String yaml) throws StepFailure {
    Path f = dir.resolve("_loop").resolve(name);
    try {
      Files.createDirectories(f.getParent());
      Files.writeString(f, yaml, StandardCharsets.UTF_8);
      return f;
    } catch (IOException e) {
      throw new StepFailure("cannot write " + f + ": " + e.getMessage());
    }
  }

  private static byte[] readBytes(Path p) throws StepFailure {
    try {
      return Files.readAllBytes(p);
    } catch (IOException e) {
      throw new StepFailure("cannot read the recipe " + p + ": " + e.getMessage());
    }
  }

  static String fingerprint(String... parts) {
    return sha256(String.join("\u0000", parts).getBytes(StandardCharsets.UTF_8));
  }

  private static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}

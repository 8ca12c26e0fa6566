package dev.moaa.runners.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moaa.pipelines.ConfigException;
import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.RunCommand;
import dev.moaa.pipelines.judge.JudgeEvalCommand;
import dev.moaa.runners.cli.Cli;
import dev.moaa.runners.launch.RunnerDefaults;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.moa.SharedModelClients;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.Reader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.beam.sdk.options.PipelineOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;

/**
 * {@code moaa compare --config=C --a=MODEL --b=MODEL --bench=NAME}: a head-to-head of two configured
 * models on a benchmark's prompts. Both answer every question's first turn (through the same pools,
 * retries, cache and budget as any call: a rerun pays only for what is new); the configured judge
 * ({@code dpo.judge}) then compares each pair of answers in both orders, as {@code moaa judge-eval}
 * does with A's answer in the place of the chosen one. The result, in {@code OUTPUT/compare.json}
 * and printed: A's win rate over B (a tie, or a verdict that flips with the order, counts half)
 * with a 95% bootstrap interval, wins, losses, ties and position consistency. An interval that
 * excludes 0.5 says the judge prefers one model beyond what chance would give on this many prompts.
 *
 * <p>Files: {@code OUTPUT/pairs.jsonl} (the pairs in the RewardBench layout, A's answer as {@code
 * chosen}), {@code OUTPUT/judge/} (judgments and the judge's report). Exit codes: 0 compared; 1 a
 * question could not be answered by both models, or the judging failed; 2 bad flags or configuration.
 */
@Command(name = "compare", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"A head-to-head of two configured models, judged by the configured judge in both orders.",
        "Both models answer the first turn of a benchmark's questions; prints and writes OUTPUT/compare.json:",
        "A's win rate over B with a 95% bootstrap interval, wins, losses, ties and position consistency."},
    footer = "%nBeam's own flags (--runner, ...) pass through to the judging pipeline.%nExit codes: 0 compared;"
        + " 1 a question was not answered by both models, or the judging failed; 2 bad flags or configuration.")
public final class CompareCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Spec CommandSpec spec;

  @Option(names = "--config", paramLabel = "FILE", required = true,
      description = "The YAML configuration file: both models and dpo.judge.")
  Path config;

  @Option(names = "--a", paramLabel = "MODEL", required = true, description = "The first model (its win rate is reported).")
  String modelA;

  @Option(names = "--b", paramLabel = "MODEL", required = true, description = "The second model.")
  String modelB;

  @Option(names = "--bench", paramLabel = "NAME", defaultValue = "arena_hard_v0.1",
      description = "The prompts: alpaca_eval, arena_hard_v0.1, arena_hard_v2.0 or mt_bench (first turns)"
          + " (default: ${DEFAULT-VALUE}).")
  String bench;

  @Option(names = "--questions", paramLabel = "FILE", description = "A question file in --bench's layout in place of the bundled one.")
  Path questions;

  @Option(names = "--limit", paramLabel = "N", description = "Compare on the first N questions only.")
  Integer limit;

  @Option(names = "--output", paramLabel = "DIR", defaultValue = "moaa-out/compare",
      description = "Where pairs, judgments and compare.json go (default: ${DEFAULT-VALUE}).")
  Path output;

  @Unmatched List<String> beamFlags = new ArrayList<>();

  private final PrintStream out;
  private final PrintStream err;

  public CompareCommand(PrintStream out, PrintStream err) {
    this.out = out;
    this.err = err;
  }

  @Override
  public Integer call() throws IOException {
    PipelineOptions options = Cli.beamOptions(spec, beamFlags);
    if (limit != null && limit < 1) {
      throw new ParameterException(spec.commandLine(), "--limit must be at least 1");
    }
    MoaaConfig c;
    try {
      c = MoaaConfig.load(config);
    } catch (ConfigException e) {
      throw new ParameterException(spec.commandLine(), "configuration error: " + e.getMessage());
    }
    RunnerDefaults.apply(options, RunnerDefaults.given(beamFlags), RunnerDefaults.totalConcurrency(c));
    try {
      return compare(c, modelA, modelB, bench, questions, limit, output, options, out, err);
    } catch (ConfigException e) {
      throw new ParameterException(spec.commandLine(), "configuration error: " + e.getMessage());
    } catch (IllegalArgumentException | IllegalStateException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
  }

  /**
   * The head-to-head of models {@code modelA} and {@code modelB} of {@code c} (for callers that go
   * on, such as the loop's rounds): writes {@code output}/compare.json, returns the exit code.
   *
   * @throws IllegalArgumentException for a model or benchmark that is not there (nothing was called)
   */
  public static int compare(MoaaConfig c, String modelA, String modelB, String bench, Path questions, Integer limit,
      Path output, PipelineOptions options, PrintStream out, PrintStream err) throws IOException {
    if (modelA.equals(modelB)) {
      throw new IllegalArgumentException("--a and --b name the same model");
    }
    ModelEndpoint a = model(c, modelA, "--a");
    ModelEndpoint b = model(c, modelB, "--b");
    c.judge();
    EvalGenCommand.Bench which = EvalGenCommand.Bench.parse(bench);
    if (which.files.size() != 1) {
      throw new IllegalArgumentException("--bench " + bench + " holds two versions: pick arena_hard_v0.1 or"
          + " arena_hard_v2.0");
    }
    RunCommand.checkCache(c.cache());

    List<EvalGenCommand.Question> qs;
    try (Reader reader = questions != null ? Files.newBufferedReader(questions, StandardCharsets.UTF_8)
        : EvalGenCommand.bundled(which.files.get(0))) {
      qs = EvalGenCommand.read(which, reader);
    } catch (IOException | IllegalArgumentException e) {
      throw new IllegalArgumentException("cannot read the questions: " + e.getMessage());
    }
    if (limit != null && qs.size() > limit) {
      qs = qs.subList(0, limit);
    }
    List<EvalGenCommand.Question> firstTurns = qs.stream()
        .map(q -> new EvalGenCommand.Question(q.row(), q.id(), List.of(q.turns().get(0)))).toList();
    out.printf(Locale.ROOT, "moaa compare: %s against %s on %d question(s) of %s (first turns), judged by %s%n",
        modelA, modelB, firstTurns.size(), which.flag, c.judge().judgeNames());
    List<EvalGenCommand.Result> answersA = answer(a, which, firstTurns, out);
    List<EvalGenCommand.Result> answersB = answer(b, which, firstTurns, out);

    Path dir = output.toAbsolutePath();
    Files.createDirectories(dir);
    Path pairs = dir.resolve("pairs.jsonl");
    int unanswered = 0;
    try (Writer w = Files.newBufferedWriter(pairs, StandardCharsets.UTF_8)) {
      for (int i = 0; i < firstTurns.size(); i++) {
        EvalGenCommand.Result ra = answersA.get(i);
        EvalGenCommand.Result rb = answersB.get(i);
        if (!ra.ok() || !rb.ok()) {
          unanswered++;
          continue;
        }
        ObjectNode row = JSON.createObjectNode();
        row.put("id", firstTurns.get(i).id());
        row.put("subset", which.flag);
        row.put("prompt", firstTurns.get(i).turns().get(0));
        row.put("chosen", ra.answers().get(0));
        row.put("rejected", rb.answers().get(0));
        w.write(JSON.writeValueAsString(row));
        w.write('\n');
      }
    }
    if (unanswered == firstTurns.size()) {
      err.println("moaa compare: no question was answered by both models; nothing to judge");
      return 1;
    }
    // the judge's own table speaks of a chosen answer; the head-to-head below is what this command reports
    ByteArrayOutputStream judgeOut = new ByteArrayOutputStream();
    int judged = JudgeEvalCommand.run(c, pairs, dir.resolve("judge"), true, options, RunnerDefaults.target(options),
        new PrintStream(judgeOut, true, StandardCharsets.UTF_8), err);
    if (judged != 0) {
      err.print(judgeOut.toString(StandardCharsets.UTF_8));
      return judged == Cli.USAGE ? Cli.USAGE : 1;
    }
    JsonNode report = JSON.readTree(dir.resolve("judge").resolve("report.json").toFile());
    ObjectNode result = JSON.createObjectNode();
    result.put("a", modelA);
    result.put("b", modelB);
    result.put("bench", which.flag);
    result.put("questions", firstTurns.size());
    result.put("unanswered", unanswered);
    result.set("head_to_head", report.path("head_to_head"));
    result.put("position_consistency", report.path("position_consistency").asDouble());
    result.set("judges", report.path("judges"));
    result.set("calls", report.path("calls"));
    Files.writeString(dir.resolve("compare.json"),
        JSON.copy().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(result) + "\n");
    JsonNode h = report.path("head_to_head");
    out.printf(Locale.ROOT, "  %s against %s: win rate %.3f (95%% interval %.3f-%.3f) over %d pairs: %d won, %d lost,"
            + " %d tied, %d flipped with the order; position consistency %.2f%n",
        modelA, modelB, h.path("win_rate").asDouble(), h.path("ci95_low").asDouble(), h.path("ci95_high").asDouble(),
        h.path("pairs").asInt(), h.path("wins").asInt(), h.path("losses").asInt(), h.path("ties").asInt(),
        h.path("inconsistent").asInt(), report.path("position_consistency").asDouble());
    String verdict = h.path("ci95_low").asDouble() > 0.5 ? modelA + " is preferred"
        : h.path("ci95_high").asDouble() < 0.5 ? modelB + " is preferred" : "no preference beyond chance";
    out.println("  " + verdict + " on these prompts; written: " + dir.resolve("compare.json"));
    if (unanswered > 0) {
      err.println("moaa compare: " + unanswered + " question(s) were not answered by both models and are left out");
      return 1;
    }
    return 0;
  }

  private static ModelEndpoint model(MoaaConfig c, String name, String flag) {
    ModelEndpoint m = c.models().get(name);
    if (m == null) {
      throw new ConfigException(flag, "unknown model '" + name + "'; models defined: "
          + new java.util.TreeSet<>(c.models().keySet()));
    }
    return m;
  }

  private static List<EvalGenCommand.Result> answer(ModelEndpoint m, EvalGenCommand.Bench which,
      List<EvalGenCommand.Question> qs, PrintStream out) {
    SharedModelClients.Lease lease = SharedModelClients.acquire(m);
    try {
      return EvalGenCommand.answerAll(lease, m, which, qs, out);
    } finally {
      lease.release();
    }
  }
}

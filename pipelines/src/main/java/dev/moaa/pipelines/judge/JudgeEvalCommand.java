package dev.moaa.pipelines.judge;

import dev.moaa.pipelines.ConfigException;
import dev.moaa.pipelines.DirectMonitorPacing;
import dev.moaa.pipelines.JobEnd;
import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.RunCommand;
import dev.moaa.pipelines.RunManifest;
import dev.moaa.pipelines.RunTarget;
import dev.moaa.pipelines.report.JudgeEvalReport;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moaa.schemas.JudgeTask;
import dev.moaa.schemas.Judgment;
import dev.moaa.schemas.Message;
import dev.moaa.transforms.dpo.DpoTopology;
import dev.moaa.transforms.dpo.JudgePairs;
import dev.moaa.transforms.io.WriteJsonLines;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.extensions.avro.coders.AvroCoder;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.transforms.Create;

/**
 * {@code moaa judge-eval --config=… --input=pairs.jsonl --output=DIR}: judges labelled pairs (the
 * RewardBench layout: {@code prompt}, {@code chosen}, {@code rejected}, optional {@code subset} and
 * {@code id}; each of the three texts may also be a list of messages) in both orders with the judge
 * of {@code dpo.judge}, and reports accuracy overall and per subset, position consistency, each
 * judge's own accuracy, Fleiss' kappa among judges, calls and cost ({@code report.json} and a
 * printed table). Users run it to choose a judge before paying for DPO labelling.
 */
public final class JudgeEvalCommand {
  private static final ObjectMapper JSON = new ObjectMapper();

  private JudgeEvalCommand() {}

  /** A labelled pair as read, or why a row could not be used. */
  record Row(long line, String id, String subset, List<Message> prompt, String chosen, String rejected, String error) {}

  /**
   * Judges the labelled pairs of {@code input} with {@code config}'s judge into {@code outputDir};
   * the flags are read and the config parsed by the command layer, {@code options} are Beam's.
   */
  public static int run(MoaaConfig config, Path input, Path outputDir, boolean overwrite, PipelineOptions options,
      RunTarget target, PrintStream out, PrintStream err) {
    List<Row> rows;
    try {
      config.judge();
      rows = read(input);
      RunCommand.checkCache(config.cache());
      RunCommand.prepareOutput(dev.moaa.transforms.io.StoragePath.local(outputDir), overwrite, "judgments", config.hash(), out);
    } catch (ConfigException e) {
      err.println("moaa judge-eval: configuration error: " + e.getMessage());
      return 2;
    } catch (IllegalArgumentException | IllegalStateException | IOException e) {
      err.println("moaa judge-eval: " + e.getMessage());
      return 2;
    }
    DpoTopology judge = config.judge();
    Path output = outputDir.toAbsolutePath();
    List<JudgeTask> tasks = new ArrayList<>();
    Map<String, Row> byId = new LinkedHashMap<>();
    List<Row> invalid = new ArrayList<>();
    for (Row r : rows) {
      if (r.error() != null) {
        invalid.add(r);
        continue;
      }
      if (byId.putIfAbsent(r.id(), r) != null) {
        invalid.add(new Row(r.line(), r.id(), r.subset(), null, null, null, "duplicate id " + r.id()));
        continue;
      }
      tasks.add(new JudgeTask(r.id(), r.prompt(), List.of(), 0, 1, r.chosen(), r.rejected(), List.of()));
      tasks.add(new JudgeTask(r.id(), r.prompt(), List.of(), 1, 0, r.rejected(), r.chosen(), List.of()));
    }
    if (tasks.isEmpty()) {
      err.println("moaa judge-eval: no usable labelled pair in " + input + " (" + invalid.size() + " invalid rows)");
      return 2;
    }
    out.printf("moaa judge-eval: %d pairs (%d invalid rows skipped), mode %s, judges %s: %d judge calls%n",
        byId.size(), invalid.size(), judge.mode().wireName(), judge.judgeNames(),
        tasks.size() * (long) judge.callsPerJudgment());
    Pipeline p = Pipeline.create(options);
    p.apply("LabelledPairs", Create.of(tasks).withCoder(AvroCoder.of(JudgeTask.class)))
        .apply("JudgePairs", JudgePairs.with(judge))
        .apply("WriteJudgments", WriteJsonLines.to(output.resolve("judgments").toString()));
    PipelineResult result;
    try {
      result = DirectMonitorPacing.run(p);
      PipelineResult.State state = JobEnd.await(result, target.direct());
      if (state != PipelineResult.State.DONE) {
        err.println("moaa judge-eval: the pipeline ended " + state);
        return 1;
      }
    } catch (RuntimeException e) {
      err.println("moaa judge-eval: the pipeline failed: " + e.getMessage());
      return 1;
    }
    try {
      List<JudgeEvalReport.PairResult> results = pairUp(readJudgments(output.resolve("judgments")), byId);
      ObjectNode report = JudgeEvalReport.build(results, judge.judgeNames(), RunManifest.usage(result), config);
      report.put("invalid_rows", invalid.size());
      report.putPOJO("invalid", invalid.stream().map(r -> Map.of("line", r.line(), "error", r.error())).toList());
      Files.writeString(output.resolve("report.json"),
          JSON.copy().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(report) + "\n");
      out.println(JudgeEvalReport.table(report));
      out.println("  report: " + output.resolve("report.json"));
      return 0;
    } catch (IOException e) {
      err.println("moaa judge-eval: cannot write the report: " + e.getMessage());
      return 1;
    }
  }

  static List<Row> read(Path file) throws IOException {
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("--input " + file + " is not a file");
    }
    List<Row> rows = new ArrayList<>();
    long line = 0;
    for (String text : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      line++;
      if (!text.isBlank()) {
        rows.add(parse(text, line));
      }
    }
    return rows;
  }

  static Row parse(String text, long line) {
    try {
      JsonNode n = JSON.readTree(text);
      if (n == null || !n.isObject()) {
        return new Row(line, null, null, null, null, null, "not a JSON object");
      }
      List<Message> prompt = messages(n.get("prompt"), "user");
      String chosen = lastAssistant(n.get("chosen"));
      String rejected = lastAssistant(n.get("rejected"));
      if (prompt == null || chosen == null || rejected == null) {
        return new Row(line, null, null, null, null, null, "needs non-empty prompt, chosen and rejected");
      }
      String id = n.hasNonNull("id") ? n.get("id").asText() : "line-" + line;
      String subset = n.hasNonNull("subset") ? n.get("subset").asText() : null;
      return new Row(line, id, subset, prompt, chosen, rejected, null);
    } catch (IOException e) {
      return new Row(line, null, null, null, null, null, "malformed JSON: " + e.getMessage());
    }
  }

  private static List<Message> messages(JsonNode n, String role) {
    if (n == null || n.isNull()) {
      return null;
    }
    if (n.isTextual()) {
      return n.asText().isBlank() ? null : List.of(new Message(role, n.asText()));
    }
    if (n.isArray() && !n.isEmpty()) {
      List<Message> out = new ArrayList<>();
      for (JsonNode m : n) {
        if (!m.path("role").isTextual() || !m.path("content").isTextual()) {
          return null;
        }
        out.add(new Message(m.get("role").asText(), m.get("content").asText()));
      }
      return out;
    }
    return null;
  }

  private static String lastAssistant(JsonNode n) {
    List<Message> m = messages(n, "assistant");
    if (m == null) {
      return null;
    }
    for (int i = m.size() - 1; i >= 0; i--) {
      if (m.get(i).getRole().equals("assistant")) {
        return m.get(i).getContent();
      }
    }
    return null;
  }

  static List<Judgment> readJudgments(Path dir) throws IOException {
    List<Judgment> out = new ArrayList<>();
    try (var files = Files.list(dir)) {
      for (Path f : files.filter(x -> x.toString().endsWith(".jsonl")).sorted().toList()) {
        for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
          if (!line.isBlank()) {
            out.add(fromPlainJson(line));
          }
        }
      }
    }
    return out;
  }

  /** Judgments are written as plain JSON; read them back through Jackson into the Avro class. */
  private static Judgment fromPlainJson(String line) throws IOException {
    JsonNode n = JSON.readTree(line);
    List<dev.moaa.schemas.JudgeVote> votes = new ArrayList<>();
    for (JsonNode v : n.path("votes")) {
      votes.add(vote(v));
    }
    return new Judgment(n.get("prompt_id").asText(), n.get("first").asInt(), n.get("second").asInt(),
        n.get("verdict").isNull() ? null : n.get("verdict").asText(), votes,
        n.path("lead").isNull() || n.path("lead").isMissingNode() ? null : vote(n.get("lead")));
  }

  private static dev.moaa.schemas.JudgeVote vote(JsonNode v) {
    return new dev.moaa.schemas.JudgeVote(v.get("model").asText(),
        v.get("verdict").isNull() ? null : v.get("verdict").asText(),
        v.get("rationale").isNull() ? null : v.get("rationale").asText(), List.of());
  }

  static List<JudgeEvalReport.PairResult> pairUp(List<Judgment> judgments, Map<String, Row> byId) {
    Map<String, Judgment[]> orders = new HashMap<>();
    for (Judgment j : judgments) {
      orders.computeIfAbsent(j.getPromptId(), k -> new Judgment[2])[j.getFirst() == 0 ? 0 : 1] = j;
    }
    List<JudgeEvalReport.PairResult> out = new ArrayList<>();
    for (Row r : byId.values()) {
      Judgment[] o = orders.get(r.id());
      if (o == null || o[0] == null || o[1] == null) {
        throw new IllegalStateException("pair " + r.id() + " lacks a judgment");
      }
      out.add(new JudgeEvalReport.PairResult(r.id(), r.subset(), o[0], o[1]));
    }
    return out;
  }
}

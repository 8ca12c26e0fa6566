package dev.moaa.runners.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moaa.pipelines.ConfigException;
import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.RunCommand;
import dev.moaa.schemas.Message;
import dev.moaa.transforms.clean.BenchmarkPrompts;
import dev.moaa.transforms.client.ChatException;
import dev.moaa.transforms.client.ChatRequest;
import dev.moaa.transforms.client.ChatResponse;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.moa.Calls;
import dev.moaa.transforms.moa.SharedModelClients;
import dev.moaa.transforms.input.JsonLines;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.Reader;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code moaa eval-gen --config=C.yaml --model=NAME --bench=alpaca_eval|arena_hard|mt_bench
 * [--output=DIR] [--limit=N] [--generator-name=ID] [--questions=FILE]}: asks one configured model
 * every prompt of a benchmark and writes the answers in that benchmark harness's own input format,
 * so the model can be scored with the harness as it is.
 *
 * <ul>
 *   <li>{@code alpaca_eval}: {@code DIR/alpaca_eval/GEN/model_outputs.json}, a JSON list of
 *       {@code {instruction, output, generator, dataset}} in the eval set's order (AlpacaEval's
 *       {@code --model_outputs}).
 *   <li>{@code arena_hard} (both bundled versions; {@code arena_hard_v0.1} or {@code
 *       arena_hard_v2.0} for one): {@code DIR/arena-hard-vX/model_answer/GEN.jsonl}. Each line
 *       carries the fields of the current arena-hard-auto ({@code uid}, {@code ans_id}, {@code
 *       model}, {@code messages} ending with {@code {"role": "assistant", "content": {"answer":
 *       …}}}, {@code tstamp}, {@code metadata}) and those of its earlier releases ({@code
 *       question_id}, {@code answer_id}, {@code model_id}, {@code choices[0].turns[0].content},
 *       {@code conv_metadata}), so either version of the harness reads it.
 *   <li>{@code mt_bench}: {@code DIR/mt_bench/model_answer/GEN.jsonl} in FastChat's layout
 *       ({@code question_id} as an integer, {@code choices[0].turns} with both answers). The
 *       second question is asked after the first question and the model's own first answer.
 * </ul>
 *
 * <p>Calls go through the shared per-model pool (at most {@code max_concurrency} in flight), with
 * the model's retries, the response cache and the budget, as in a pipeline run. A question whose
 * call still fails is not written to the answers; it goes to {@code DIR/BENCH/failures/GEN.jsonl}
 * with the turn, error kind and message, and the command exits 1 once every answer that succeeded
 * is written. Exit codes: 0 every question answered; 1 some failed; 2 bad flags or configuration.
 */
public final class EvalGenCommand {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Pattern GENERATOR = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");
  /** The template id in each call's hash: eval answers are cached apart from pipeline calls. */
  static final String TEMPLATE = "eval-gen/v1";

  private EvalGenCommand() {}

  /** One benchmark harness: its bundled question files and where its answers go. */
  enum Bench {
    ALPACA_EVAL("alpaca_eval", List.of("alpaca_eval_instructions.jsonl"), List.of("alpaca_eval")),
    ARENA_HARD("arena_hard", List.of("arena_hard_v0.1_question.jsonl", "arena_hard_v2.0_question.jsonl"),
        List.of("arena-hard-v0.1", "arena-hard-v2.0")),
    ARENA_HARD_V01("arena_hard_v0.1", List.of("arena_hard_v0.1_question.jsonl"), List.of("arena-hard-v0.1")),
    ARENA_HARD_V20("arena_hard_v2.0", List.of("arena_hard_v2.0_question.jsonl"), List.of("arena-hard-v2.0")),
    MT_BENCH("mt_bench", List.of("mt_bench_question.jsonl"), List.of("mt_bench"));

    final String flag;
    final List<String> files;
    final List<String> dirs;

    Bench(String flag, List<String> files, List<String> dirs) {
      this.flag = flag;
      this.files = files;
      this.dirs = dirs;
    }

    static Bench parse(String s) {
      for (Bench b : values()) {
        if (b.flag.equals(s)) {
          return b;
        }
      }
      throw new IllegalArgumentException("--bench must be one of alpaca_eval, arena_hard, arena_hard_v0.1,"
          + " arena_hard_v2.0, mt_bench; got '" + s + "'");
    }

    String kind() {
      return this == ALPACA_EVAL ? "alpaca_eval" : this == MT_BENCH ? "mt_bench" : "arena_hard";
    }
  }

  /** One benchmark question: its row as the file has it, its id and its user turns. */
  record Question(JsonNode row, String id, List<String> turns) {}

  /** What became of one question: the answers of its turns, or the turn that failed and why. */
  record Result(Question question, List<String> answers, long completionTokens, double tstamp, int failedTurn,
      ChatException failure) {
    boolean ok() {
      return failure == null;
    }
  }

  /**
   * Answers the questions of {@code benchName} with {@code model} of {@code config} (read once by
   * the command layer) into {@code outputDir}; {@code limit}, {@code generatorName} and {@code
   * questionsFile} may be null (every question, the model's name, the bundled file).
   */
  public static int run(MoaaConfig config, String model, String benchName, Path outputDir, Integer limitFlag,
      String generatorName, Path questionsFile, PrintStream out, PrintStream err) {
    ModelEndpoint endpoint;
    Bench bench;
    String generator;
    int limit;
    Path output;
    try {
      endpoint = config.models().get(model);
      if (endpoint == null) {
        throw new ConfigException("--model", "unknown model '" + model + "'; models defined: "
            + new java.util.TreeSet<>(config.models().keySet()));
      }
      bench = Bench.parse(benchName);
      generator = generatorName == null ? model : generatorName;
      if (!GENERATOR.matcher(generator).matches()) {
        throw new IllegalArgumentException("--generator-name '" + generator
            + "' becomes a file name: use letters, digits, '.', '_' and '-'");
      }
      limit = limitFlag == null ? Integer.MAX_VALUE : limitFlag;
      if (limit < 1) {
        throw new IllegalArgumentException("--limit must be at least 1");
      }
      if (questionsFile != null && bench.files.size() != 1) {
        throw new IllegalArgumentException("--questions replaces one question file: pick arena_hard_v0.1 or arena_hard_v2.0");
      }
      output = outputDir.toAbsolutePath();
      RunCommand.checkCache(config.cache());
    } catch (ConfigException e) {
      err.println("moaa eval-gen: configuration error: " + e.getMessage());
      return 2;
    } catch (IllegalArgumentException | IllegalStateException e) {
      err.println("moaa eval-gen: " + e.getMessage());
      return 2;
    }

    int failed = 0;
    SharedModelClients.Lease lease = SharedModelClients.acquire(endpoint);
    try {
      for (int i = 0; i < bench.files.size(); i++) {
        String dir = bench.dirs.get(i);
        List<Question> questions;
        try {
          questions = questionsFile != null
              ? read(bench, Files.newBufferedReader(questionsFile, StandardCharsets.UTF_8))
              : read(bench, bundled(bench.files.get(i)));
        } catch (IOException | IllegalArgumentException e) {
          err.println("moaa eval-gen: cannot read the questions: " + e.getMessage());
          return 2;
        }
        if (questions.size() > limit) {
          questions = questions.subList(0, limit);
        }
        out.printf(Locale.ROOT, "moaa eval-gen: %s, %d question(s), model %s (%s), generator %s, at most %d calls in flight%n",
            dir, questions.size(), endpoint.name(), endpoint.modelId(), generator, endpoint.maxConcurrency());
        List<Result> results = answerAll(lease, endpoint, bench, questions, out);
        Path base = output.resolve(dir);
        Path answers = write(bench, base, generator, endpoint, results);
        Path failures = base.resolve("failures").resolve(generator + ".jsonl");
        List<Result> bad = results.stream().filter(r -> !r.ok()).toList();
        writeFailures(failures, dir, bad);
        long tokens = results.stream().mapToLong(Result::completionTokens).sum();
        out.printf(Locale.ROOT, "  answered %d of %d (%d completion tokens): %s%n",
            results.size() - bad.size(), results.size(), tokens, answers);
        if (!bad.isEmpty()) {
          err.printf(Locale.ROOT, "moaa eval-gen: %d question(s) of %s failed after retries; see %s%n", bad.size(), dir, failures);
          for (Result r : bad.subList(0, Math.min(5, bad.size()))) {
            err.printf(Locale.ROOT, "  %s turn %d: %s: %s%n", r.question().id(), r.failedTurn(),
                r.failure().kind().wireName(), r.failure().getMessage());
          }
          failed += bad.size();
        }
      }
    } catch (IOException e) {
      err.println("moaa eval-gen: cannot write the answers: " + e.getMessage());
      return 1;
    } finally {
      lease.release();
    }
    return failed > 0 ? 1 : 0;
  }

  /** A question file bundled with the product (the same files decontamination uses). */
  static Reader bundled(String file) {
    InputStream in = BenchmarkPrompts.class.getResourceAsStream("benchmarks/" + file);
    if (in == null) {
      throw new IllegalStateException("bundled benchmark file missing from the classpath: " + file);
    }
    return new InputStreamReader(in, StandardCharsets.UTF_8);
  }

  /** The questions of a file in the harness's own layout, in file order. */
  static List<Question> read(Bench bench, Reader reader) throws IOException {
    List<Question> out = new ArrayList<>();
    try (reader) {
      JsonLines.forEach(reader, "", (number, n) -> out.add(question(bench, n, number, out.size())));
    }
    if (out.isEmpty()) {
      throw new IllegalArgumentException("no question in the file");
    }
    return out;
  }

  private static Question question(Bench bench, JsonNode n, int line, int row) {
    switch (bench.kind()) {
      case "alpaca_eval" -> {
        if (!n.path("instruction").isTextual() || n.get("instruction").asText().isBlank()) {
          throw new IllegalArgumentException("line " + line + ": AlpacaEval rows need a non-empty 'instruction'");
        }
        return new Question(n, String.valueOf(row), List.of(n.get("instruction").asText()));
      }
      case "mt_bench" -> {
        if (!n.path("question_id").isIntegralNumber() || !n.path("turns").isArray() || n.get("turns").isEmpty()) {
          throw new IllegalArgumentException("line " + line + ": MT-Bench rows need an integer 'question_id' and 'turns'");
        }
        List<String> turns = new ArrayList<>();
        n.get("turns").forEach(t -> turns.add(t.asText()));
        return new Question(n, n.get("question_id").asText(), turns);
      }
      default -> {
        JsonNode id = n.hasNonNull("uid") ? n.get("uid") : n.get("question_id");
        String prompt = n.path("prompt").isTextual() ? n.get("prompt").asText()
            : n.path("turns").path(0).path("content").asText("");
        if (id == null || prompt.isBlank()) {
          throw new IllegalArgumentException("line " + line + ": Arena-Hard rows need 'uid' (or 'question_id') and 'prompt'");
        }
        return new Question(n, id.asText(), List.of(prompt));
      }
    }
  }

  /** Asks every question at once; the shared pool keeps at most max_concurrency calls in flight. */
  static List<Result> answerAll(SharedModelClients.Lease lease, ModelEndpoint endpoint, Bench bench,
      List<Question> questions, PrintStream out) {
    AtomicInteger done = new AtomicInteger();
    int step = Math.max(1, questions.size() / 10);
    List<CompletableFuture<Result>> futures = new ArrayList<>();
    for (Question q : questions) {
      futures.add(answer(lease, endpoint, q, 0, new ArrayList<>(), new ArrayList<>(), 0).whenComplete((r, e) -> {
        int n = done.incrementAndGet();
        if (n % step == 0 && n < questions.size()) {
          out.printf(Locale.ROOT, "  %d/%d questions done%n", n, questions.size());
        }
      }));
    }
    return futures.stream().map(CompletableFuture::join).toList();
  }

  /**
   * Asks turn {@code t} of a question with the earlier turns and the model's own answers to them as
   * history, then the next turn; the first failure ends the question.
   */
  private static CompletableFuture<Result> answer(SharedModelClients.Lease lease, ModelEndpoint endpoint, Question q,
      int t, List<Message> history, List<String> answers, long tokens) {
    List<Message> messages = new ArrayList<>(history);
    messages.add(new Message("user", q.turns().get(t)));
    ChatRequest request = ChatRequest.of(messages);
    return lease.submit(request, Calls.requestHash(endpoint, request, TEMPLATE)).thenCompose(o -> {
      if (o.failure() != null) {
        return CompletableFuture.completedFuture(new Result(q, answers, tokens, 0, t + 1, o.failure()));
      }
      ChatResponse r = o.response();
      List<String> done = new ArrayList<>(answers);
      done.add(r.content());
      long used = tokens + r.completionTokens();
      if (t + 1 == q.turns().size()) {
        return CompletableFuture.completedFuture(new Result(q, done, used, System.currentTimeMillis() / 1000.0, 0, null));
      }
      messages.add(new Message("assistant", r.content()));
      return answer(lease, endpoint, q, t + 1, messages, done, used);
    });
  }

  /** Writes the answered questions in the harness's layout; returns the file. */
  static Path write(Bench bench, Path base, String generator, ModelEndpoint endpoint, List<Result> results)
      throws IOException {
    List<Result> ok = results.stream().filter(Result::ok).toList();
    if (bench.kind().equals("alpaca_eval")) {
      ArrayNode list = JSON.createArrayNode();
      for (Result r : ok) {
        ObjectNode n = list.addObject();
        n.put("instruction", r.question().row().get("instruction").asText());
        n.put("output", r.answers().get(0));
        n.put("generator", generator);
        n.put("dataset", r.question().row().path("dataset").asText(""));
      }
      Path file = base.resolve(generator).resolve("model_outputs.json");
      Files.createDirectories(file.getParent());
      Files.writeString(file, JSON.copy().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(list) + "\n",
          StandardCharsets.UTF_8);
      return file;
    }
    Path file = base.resolve("model_answer").resolve(generator + ".jsonl");
    Files.createDirectories(file.getParent());
    List<Result> sorted = new ArrayList<>(ok);
    if (bench.kind().equals("mt_bench")) {
      sorted.sort(java.util.Comparator.comparingLong(r -> r.question().row().get("question_id").asLong()));
    }
    try (Writer w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
      for (Result r : sorted) {
        ObjectNode line = bench.kind().equals("mt_bench") ? mtBenchLine(r, generator) : arenaHardLine(r, generator);
        w.write(JSON.writeValueAsString(line));
        w.write('\n');
      }
    }
    return file;
  }

  /** FastChat's model_answer line: the integer question id and every turn's answer in one choice. */
  static ObjectNode mtBenchLine(Result r, String generator) {
    ObjectNode n = JSON.createObjectNode();
    n.put("question_id", r.question().row().get("question_id").asLong());
    n.put("answer_id", answerId(generator, r));
    n.put("model_id", generator);
    ObjectNode choice = n.putArray("choices").addObject();
    choice.put("index", 0);
    ArrayNode turns = choice.putArray("turns");
    r.answers().forEach(turns::add);
    n.put("tstamp", r.tstamp());
    return n;
  }

  /** arena-hard-auto's model_answer line, with the fields of its current and its earlier releases. */
  static ObjectNode arenaHardLine(Result r, String generator) {
    String id = r.question().id();
    String text = r.answers().get(0);
    ObjectNode metadata = markdownCounts(text, r.completionTokens());
    ObjectNode n = JSON.createObjectNode();
    n.put("uid", id);
    n.put("ans_id", answerId(generator, r));
    n.put("model", generator);
    ArrayNode messages = n.putArray("messages");
    messages.addObject().put("role", "user").put("content", r.question().turns().get(0));
    ObjectNode assistant = messages.addObject().put("role", "assistant");
    assistant.putObject("content").put("answer", text);
    n.put("tstamp", r.tstamp());
    n.set("metadata", metadata);
    n.put("question_id", id);
    n.put("answer_id", answerId(generator, r));
    n.put("model_id", generator);
    ObjectNode choice = n.putArray("choices").addObject();
    choice.put("index", 0);
    choice.putArray("turns").addObject().put("content", text).put("token_len", r.completionTokens());
    n.set("conv_metadata", metadata.deepCopy());
    return n;
  }

  private static final Pattern CODE_BLOCK = Pattern.compile("```([^`]*)```");

  /**
   * The style figures arena-hard-auto's style control reads: answer length in tokens (here the
   * endpoint's completion tokens, not a tiktoken count) and Markdown headers, list items and bold
   * spans outside code blocks.
   */
  static ObjectNode markdownCounts(String text, long tokens) {
    String t = CODE_BLOCK.matcher(text).replaceAll("");
    ObjectNode m = JSON.createObjectNode();
    m.put("token_len", tokens);
    ObjectNode headers = m.putObject("header_count");
    for (int level = 1; level <= 6; level++) {
      headers.put("h" + level, count("(?m)^#{" + level + "}\\s", t));
    }
    ObjectNode lists = m.putObject("list_count");
    lists.put("ordered", count("(?m)^\\s*\\d+\\.\\s", t));
    lists.put("unordered", count("(?m)^\\s*[-*+]\\s", t));
    ObjectNode bold = m.putObject("bold_count");
    bold.put("**", count("\\*\\*[^*\\n]+\\*\\*", t));
    bold.put("__", count("__[^_\\n]+__", t));
    return m;
  }

  private static int count(String regex, String text) {
    java.util.regex.Matcher m = Pattern.compile(regex).matcher(text);
    int n = 0;
    while (m.find()) {
      n++;
    }
    return n;
  }

  /** A stable id of one answer: 22 hex digits of SHA-256 over generator, question and answers. */
  private static String answerId(String generator, Result r) {
    try {
      MessageDigest d = MessageDigest.getInstance("SHA-256");
      d.update(generator.getBytes(StandardCharsets.UTF_8));
      d.update((byte) 0);
      d.update(r.question().id().getBytes(StandardCharsets.UTF_8));
      for (String a : r.answers()) {
        d.update((byte) 0);
        d.update(a.getBytes(StandardCharsets.UTF_8));
      }
      return HexFormat.of().formatHex(d.digest()).substring(0, 22);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** One line per failed question; an earlier run's file is removed when nothing failed. */
  static void writeFailures(Path file, String bench, List<Result> failed) throws IOException {
    if (failed.isEmpty()) {
      Files.deleteIfExists(file);
      return;
    }
    Files.createDirectories(file.getParent());
    try (Writer w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
      for (Result r : failed) {
        ObjectNode n = JSON.createObjectNode();
        n.put("bench", bench);
        n.put("question_id", r.question().id());
        n.put("turn", r.failedTurn());
        n.put("error_kind", r.failure().kind().wireName());
        n.put("http_status", r.failure().httpStatus());
        n.put("attempts", r.failure().attempts());
        n.put("error", r.failure().getMessage());
        n.put("prompt", r.question().turns().get(r.failedTurn() - 1));
        w.write(JSON.writeValueAsString(n));
        w.write('\n');
      }
    }
  }

  /** {@code moaa eval-gen}: its flags. */
  @Command(name = "eval-gen", mixinStandardHelpOptions = true, sortOptions = false,
      description = {"Answers a benchmark's prompts with one configured model, for the benchmark's own harness.",
          "The answers are written in the harness's format (AlpacaEval, Arena-Hard, MT-Bench), so the model is",
          "scored with the harness as it is."},
      footer = "%nExit codes: 0 every question answered; 1 some failed (in BENCH/failures/); 2 bad flags or configuration.")
  public static final class Run implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE", required = true, description = "The YAML configuration file.")
    Path config;

    @Option(names = "--model", paramLabel = "NAME", required = true, description = "The configured model that answers.")
    String model;

    @Option(names = "--bench", paramLabel = "NAME", required = true,
        description = "alpaca_eval, arena_hard (both versions), arena_hard_v0.1, arena_hard_v2.0 or mt_bench.")
    String bench;

    @Option(names = "--output", paramLabel = "DIR", defaultValue = "moaa-out/eval",
        description = "Where the answers go (default: ${DEFAULT-VALUE}).")
    Path output;

    @Option(names = "--limit", paramLabel = "N", description = "Answer only the first N questions.")
    Integer limit;

    @Option(names = "--generator-name", paramLabel = "ID", description = "The name the harness shows (default: the model's).")
    String generatorName;

    @Option(names = "--questions", paramLabel = "FILE", description = "A question file in place of the bundled one.")
    Path questions;

    private final PrintStream out;
    private final PrintStream err;

    public Run(PrintStream out, PrintStream err) {
      this.out = out;
      this.err = err;
    }

    @Override
    public Integer call() {
      if (limit != null && limit < 1) {
        throw new ParameterException(spec.commandLine(), "--limit must be at least 1");
      }
      MoaaConfig c;
      try {
        c = MoaaConfig.load(config);
      } catch (ConfigException e) {
        throw new ParameterException(spec.commandLine(), "configuration error: " + e.getMessage());
      }
      return run(c, model, bench, output, limit, generatorName, questions, out, err);
    }
  }}

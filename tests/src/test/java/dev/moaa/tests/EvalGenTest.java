package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.sim.RecordedRequest;
import dev.moaa.runners.sim.SimulatedEndpoint;
import dev.moaa.transforms.clean.BenchmarkPrompts;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * {@code moaa eval-gen} against the simulated endpoint over the real bundled benchmark prompts: each
 * output validates against its harness's input format, MT-Bench's second turn is asked with the
 * model's own first answer in its history (checked on the requests the endpoint received), and a
 * question whose call fails lands in the failures file with a non-zero exit.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class EvalGenTest {
  private SimulatedEndpoint sim;
  private String key;
  private Path work;
  private Path config;

  @BeforeAll
  void start() throws IOException {
    key = "sk-eval-" + UUID.randomUUID().toString().replace("-", "");
    sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(2).withRequiredApiKey(key));
    work = Fixtures.workDir("eval-gen");
    Path keyFile = work.resolve("key.txt");
    Files.writeString(keyFile, key);
    try (ServerSocket s = new ServerSocket(0)) {
      // a port nobody listens on once the socket is closed: every call to `down` fails to connect
      config = work.resolve("config.yaml");
      Files.writeString(config, Fixtures.config(sim.baseUrl(), 2, 1, 1, "  api_key_file: " + keyFile + "\n")
          .replace("models:\n", "models:\n  down: {model: gone, base_url: 'http://127.0.0.1:" + s.getLocalPort() + "/v1',"
              + " retry: {max_attempts: 2, initial_backoff_ms: 5, max_backoff_ms: 10}}\n"));
    }
  }

  @AfterAll
  void stop() {
    sim.close();
  }

  @Test
  void alpacaEval_writesAJsonListOfInstructionOutputGeneratorDataset() throws IOException {
    Path out = work.resolve("alpaca");
    Fixtures.Run run = Fixtures.moaa("eval-gen", "--config=" + config, "--model=p1", "--bench=alpaca_eval",
        "--limit=5", "--generator-name=my-sft-model", "--output=" + out);
    assertEquals(0, run.code(), run.err());
    JsonNode list = Fixtures.JSON.readTree(out.resolve("alpaca_eval/my-sft-model/model_outputs.json").toFile());
    List<JsonNode> bundled = bundled("alpaca_eval_instructions.jsonl");
    assertTrue(list.isArray());
    assertEquals(5, list.size());
    for (int i = 0; i < 5; i++) {
      JsonNode n = list.get(i);
      assertEquals(Set.of("instruction", "output", "generator", "dataset"), fieldNames(n));
      assertEquals(bundled.get(i).get("instruction").asText(), n.get("instruction").asText(), "instruction as in the eval set");
      assertEquals(bundled.get(i).get("dataset").asText(), n.get("dataset").asText());
      assertEquals("my-sft-model", n.get("generator").asText());
      assertTrue(n.get("output").isTextual() && n.get("output").asText().contains("sim-proposer-1"), n.toString());
      assertTrue(asked(bundled.get(i).get("instruction").asText()), "the instruction was sent as the user message");
    }
    assertNoKeyIn(out);
  }

  @Test
  void arenaHard_writesModelAnswerLinesForBothVersions() throws IOException {
    Path out = work.resolve("arena");
    Fixtures.Run run = Fixtures.moaa("eval-gen", "--config=" + config, "--model=p2", "--bench=arena_hard",
        "--limit=3", "--output=" + out);
    assertEquals(0, run.code(), run.err());
    for (String version : List.of("v0.1", "v2.0")) {
      List<JsonNode> questions = bundled("arena_hard_" + version + "_question.jsonl");
      List<JsonNode> lines = jsonLines(out.resolve("arena-hard-" + version + "/model_answer/p2.jsonl"));
      assertEquals(3, lines.size(), version);
      for (int i = 0; i < 3; i++) {
        JsonNode a = lines.get(i);
        String uid = questions.get(i).get("uid").asText();
        // the current harness: uid, ans_id, model, messages ending with {"answer": ...}, tstamp, metadata
        assertEquals(uid, a.get("uid").asText());
        assertTrue(a.get("ans_id").isTextual());
        assertEquals("p2", a.get("model").asText());
        JsonNode messages = a.get("messages");
        assertEquals("user", messages.get(0).get("role").asText());
        assertEquals(questions.get(i).get("prompt").asText(), messages.get(0).get("content").asText());
        assertEquals("assistant", messages.get(1).get("role").asText());
        String answer = messages.get(1).get("content").get("answer").asText();
        assertTrue(answer.contains("sim-proposer-2"), answer);
        assertTrue(a.get("tstamp").isNumber());
        assertTrue(a.get("metadata").get("token_len").isIntegralNumber());
        assertTrue(a.get("metadata").get("header_count").has("h1"));
        // the earlier layout: question_id, answer_id, model_id, choices[0].turns[0].content
        assertTrue(a.get("question_id").isTextual());
        assertEquals(uid, a.get("question_id").asText());
        assertEquals("p2", a.get("model_id").asText());
        assertTrue(a.get("answer_id").isTextual());
        JsonNode choice = a.get("choices").get(0);
        assertEquals(0, choice.get("index").asInt());
        assertEquals(answer, choice.get("turns").get(0).get("content").asText());
        assertTrue(asked(questions.get(i).get("prompt").asText()));
      }
    }
  }

  @Test
  void mtBench_answersBothTurnsWithTheFirstAnswerInTheSecondTurnsHistory() throws IOException {
    Path out = work.resolve("mt");
    Fixtures.Run run = Fixtures.moaa("eval-gen", "--config=" + config, "--model=agg", "--bench=mt_bench",
        "--limit=5", "--output=" + out);
    assertEquals(0, run.code(), run.err());
    List<JsonNode> questions = bundled("mt_bench_question.jsonl");
    List<JsonNode> lines = jsonLines(out.resolve("mt_bench/model_answer/agg.jsonl"));
    assertEquals(5, lines.size());
    long previous = Long.MIN_VALUE;
    for (int i = 0; i < 5; i++) {
      JsonNode a = lines.get(i);
      assertEquals(Set.of("question_id", "answer_id", "model_id", "choices", "tstamp"), fieldNames(a));
      assertTrue(a.get("question_id").isIntegralNumber(), "question_id is an integer: " + a.get("question_id"));
      assertTrue(a.get("question_id").asLong() > previous, "sorted by question id");
      previous = a.get("question_id").asLong();
      assertTrue(a.get("answer_id").isTextual());
      assertEquals("agg", a.get("model_id").asText());
      assertTrue(a.get("tstamp").isNumber());
      JsonNode q = questions.stream().filter(x -> x.get("question_id").asLong() == a.get("question_id").asLong())
          .findFirst().orElseThrow();
      JsonNode choice = a.get("choices").get(0);
      assertEquals(0, choice.get("index").asInt());
      JsonNode turns = choice.get("turns");
      assertEquals(2, turns.size(), "both turns answered");
      assertTrue(turns.get(0).isTextual() && !turns.get(0).asText().isBlank());
      assertTrue(turns.get(1).isTextual() && !turns.get(1).asText().isBlank());

      String first = q.get("turns").get(0).asText();
      String second = q.get("turns").get(1).asText();
      List<RecordedRequest> secondTurn = sim.requests().stream()
          .filter(r -> r.messages().size() == 3 && r.messages().get(2).content().equals(second)).toList();
      assertEquals(1, secondTurn.size(), "one second-turn request for question " + previous);
      List<RecordedRequest.Message> m = secondTurn.get(0).messages();
      assertEquals(new RecordedRequest.Message("user", first), m.get(0));
      assertEquals(new RecordedRequest.Message("assistant", turns.get(0).asText()), m.get(1),
          "the model's own first answer is the second turn's history");
      assertEquals(new RecordedRequest.Message("user", second), m.get(2));
    }
    assertNoKeyIn(out);
  }

  @Test
  void givenFailingCalls_failuresAreWrittenAndTheExitIsNonZero() throws IOException {
    Path questions = work.resolve("mt-faults.jsonl");
    Files.writeString(questions, String.join("\n",
        "{\"question_id\": 901, \"category\": \"writing\", \"turns\": [\"Fault test one.\", \"And a follow-up.\"]}",
        "{\"question_id\": 902, \"category\": \"writing\", \"turns\": [\"Fault test two.\", \"Follow-up SIM_ALWAYS_FAIL.\"]}",
        "{\"question_id\": 903, \"category\": \"writing\", \"turns\": [\"Fault test three SIM_ALWAYS_FAIL.\", \"Never asked.\"]}")
        + "\n");
    Path out = work.resolve("faults");
    Fixtures.Run run = Fixtures.moaa("eval-gen", "--config=" + config, "--model=p1", "--bench=mt_bench",
        "--questions=" + questions, "--output=" + out);
    assertEquals(1, run.code(), "a failed question makes the exit non-zero");
    assertTrue(run.err().contains("2 question(s) of mt_bench failed"), run.err());
    List<JsonNode> answers = jsonLines(out.resolve("mt_bench/model_answer/p1.jsonl"));
    assertEquals(1, answers.size(), "the question that succeeded is written");
    assertEquals(901, answers.get(0).get("question_id").asInt());
    List<JsonNode> failures = jsonLines(out.resolve("mt_bench/failures/p1.jsonl"));
    assertEquals(2, failures.size());
    JsonNode f902 = failures.stream().filter(f -> f.get("question_id").asText().equals("902")).findFirst().orElseThrow();
    assertEquals(2, f902.get("turn").asInt());
    assertEquals("server_error", f902.get("error_kind").asText());
    assertEquals(500, f902.get("http_status").asInt());
    JsonNode f903 = failures.stream().filter(f -> f.get("question_id").asText().equals("903")).findFirst().orElseThrow();
    assertEquals(1, f903.get("turn").asInt());
    assertFalse(sim.requests().stream().anyMatch(r -> r.messages().stream().anyMatch(x -> x.content().equals("Never asked."))),
        "a question whose first turn failed is not asked its second");

    Path down = work.resolve("down");
    Fixtures.Run unreachable = Fixtures.moaa("eval-gen", "--config=" + config, "--model=down", "--bench=alpaca_eval",
        "--limit=2", "--output=" + down);
    assertEquals(1, unreachable.code());
    assertEquals(0, Fixtures.JSON.readTree(down.resolve("alpaca_eval/down/model_outputs.json").toFile()).size());
    List<JsonNode> lost = jsonLines(down.resolve("alpaca_eval/failures/down.jsonl"));
    assertEquals(2, lost.size());
    assertEquals("connection", lost.get(0).get("error_kind").asText());
  }

  @Test
  void givenBadFlags_itExitsTwoAndNamesTheProblem() {
    Fixtures.Run unknownModel = Fixtures.moaa("eval-gen", "--config=" + config, "--model=nope", "--bench=mt_bench");
    assertEquals(2, unknownModel.code());
    assertTrue(unknownModel.err().contains("unknown model 'nope'"), unknownModel.err());
    Fixtures.Run badBench = Fixtures.moaa("eval-gen", "--config=" + config, "--model=p1", "--bench=gsm8k");
    assertEquals(2, badBench.code());
    assertTrue(badBench.err().contains("--bench must be one of"), badBench.err());
  }

  private boolean asked(String userText) {
    return sim.requests().stream().anyMatch(r -> r.messages().size() == 1
        && r.messages().get(0).equals(new RecordedRequest.Message("user", userText)));
  }

  private void assertNoKeyIn(Path dir) throws IOException {
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        assertFalse(Files.readString(f, StandardCharsets.UTF_8).contains(key), "the API key is in " + f);
      }
    }
  }

  private static Set<String> fieldNames(JsonNode n) {
    Set<String> names = new HashSet<>();
    n.fieldNames().forEachRemaining(names::add);
    return names;
  }

  private static List<JsonNode> bundled(String file) throws IOException {
    List<JsonNode> rows = new ArrayList<>();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(
        BenchmarkPrompts.class.getResourceAsStream("benchmarks/" + file), StandardCharsets.UTF_8))) {
      String line;
      while ((line = r.readLine()) != null) {
        if (!line.isBlank()) {
          rows.add(Fixtures.JSON.readTree(line));
        }
      }
    }
    return rows;
  }

  private static List<JsonNode> jsonLines(Path file) throws IOException {
    List<JsonNode> rows = new ArrayList<>();
    for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
      if (!line.isBlank()) {
        rows.add(Fixtures.JSON.readTree(line));
      }
    }
    return rows;
  }
}

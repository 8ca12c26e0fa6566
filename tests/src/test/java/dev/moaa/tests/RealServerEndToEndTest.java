package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.generic.GenericRecord;
import org.junit.jupiter.api.Test;

/**
 * SFT and DPO against a real OpenAI-compatible server that no one here wrote: {@code transformers
 * serve}, serving three tiny random-weight chat models built at test time (a plain one, one that
 * writes {@code <think>} inline, and a Qwen3-style reasoning model whose server answers {@code
 * reasoning_content}). A proxy in front of it adds up the {@code usage} of every 200 answer, which
 * the manifest must match to the token. The server ignores {@code n} and {@code
 * max_completion_tokens}: the client fills the candidates with seeded requests, and the tests bound
 * the reasoning model with {@code max_tokens}.
 */
class RealServerEndToEndTest {

  private static Path prompts(Path dir, int n) throws IOException {
    Files.createDirectories(dir);
    String[] questions = {"What makes a good unit test?", "Why do rivers meander across flat plains?",
        "How should a small team plan its first database migration?", "Which spices go well with roasted carrots?",
        "Explain recursion to a ten year old."};
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < n; i++) {
      b.append("{\"id\":\"real-").append(i).append("\",\"prompt\":\"").append(questions[i % questions.length])
          .append("\"}\n");
    }
    Path f = dir.resolve("prompts.jsonl");
    Files.writeString(f, b.toString());
    return f;
  }

  private static String sftConfig(TransformersServe serve, UsageCountingProxy proxy, int reasonerMaxTokens) {
    return "defaults:\n"
        + "  base_url: " + proxy.baseUrl() + "\n"
        + "  max_tokens: 24\n"
        + "  max_concurrency: 2\n"
        + "  read_timeout_ms: 120000\n"
        + "  retry: {max_attempts: 2, initial_backoff_ms: 10, max_backoff_ms: 50}\n"
        + "  price: {input_per_million: 1.0, output_per_million: 2.0}\n"
        + "models:\n"
        + "  plain: {model: " + serve.modelPath(TransformersServe.PLAIN) + ", temperature: 1.0, seed: 3}\n"
        + "  thinker: {model: " + serve.modelPath(TransformersServe.INLINE_THINK) + ", temperature: 1.0, seed: 3,"
        + " max_failure_share: 0.9}\n"
        // a tiny random model: its thinking does not always end within the limit
        + "  reasoner: {model: " + serve.modelPath(TransformersServe.REASONING) + ", temperature: 1.0, seed: 3,"
        + " max_tokens: " + reasonerMaxTokens + ", max_failure_share: 1.0}\n"
        + "  agg: {model: " + serve.modelPath(TransformersServe.PLAIN) + ", temperature: 1.0, seed: 4, max_tokens: 32}\n"
        + "sft: {proposers: [plain, thinker, reasoner], aggregator: agg, min_proposals: 1}\n"
        + "cache: {backend: none}\n"
        + "clean: {decontaminate: false}\n";
  }

  private static List<JsonNode> calls(Path output) throws IOException {
    List<JsonNode> calls = new ArrayList<>();
    for (GenericRecord r : Fixtures.readParquet(output.resolve("sft/parquet"))) {
      JsonNode row = Fixtures.JSON.readTree(r.toString());
      for (JsonNode turn : row.path("turns")) {
        turn.path("proposals").forEach(calls::add);
        if (!turn.path("aggregator").isNull()) {
          calls.add(turn.path("aggregator"));
        }
      }
    }
    for (JsonNode d : Fixtures.readJsonLines(output.resolve("dead-letters"))) {
      d.path("calls").forEach(calls::add);
    }
    return calls;
  }

  private static void assertNoThinkTags(String what, String text) {
    assertFalse(text.contains("<think>") || text.contains("</think>"), what + " holds a think tag: " + text);
  }

  @Test
  void sftAgainstTransformersServe_reconciles_countsEveryTokenTheServerBilled_andKeepsThinkingOutOfTheData()
      throws Exception {
    TransformersServe serve = TransformersServe.shared();
    Path work = Fixtures.workDir("real-sft");
    int rows = 4;
    Path input = prompts(work.resolve("in"), rows);
    try (UsageCountingProxy proxy = new UsageCountingProxy(serve.baseUrl())) {
      Files.writeString(work.resolve("c.yaml"), sftConfig(serve, proxy, 64));
      Path out = work.resolve("out");
      Fixtures.Run run = Fixtures.moaa("sft", "--config=" + work.resolve("c.yaml"), "--input=" + input,
          "--output=" + out, "--preflight=true");
      assertEquals(0, run.code(), run.out() + run.err());
      JsonNode m = Fixtures.manifest(out);
      JsonNode counts = m.path("counts");
      Fixtures.assertReconciles(m, rows, counts.path("written").asLong(), counts.path("dead_lettered").asLong(), 0);
      assertTrue(counts.path("written").asLong() > 0, "rows were written");

      // Every 200 answer's usage, the preflight's probes and the unusable answers included.
      assertTrue(proxy.countByStatus(200) > rows * 4L, proxy.statusCounts().toString());
      assertEquals(0, proxy.withoutUsage());
      assertEquals(proxy.promptTokens(), m.path("totals").path("prompt_tokens").asLong(), "prompt tokens");
      assertEquals(proxy.completionTokens(), m.path("totals").path("completion_tokens").asLong(), "completion tokens");
      assertEquals(proxy.count(), m.path("totals").path("paid_calls").asLong(), "every request sent is counted");
      assertEquals(3, m.path("preflight").path("requests").asLong(), "one probe per distinct model (agg is plain's)");

      // No think tag in any written message or any answer handed on.
      for (GenericRecord r : Fixtures.readParquet(out.resolve("sft/parquet"))) {
        assertNoThinkTags("a written message", String.valueOf(r.get("messages")));
      }
      List<JsonNode> calls = calls(out);
      for (JsonNode c : calls) {
        if (c.path("ok").asBoolean()) {
          assertNoThinkTags("the answer of " + c.path("model").asText(), c.path("content").asText());
        }
      }
      // The reasoning model's thinking is in lineage.
      long withReasoning = calls.stream().filter(c -> c.path("model").asText().equals("reasoner")
          && c.path("reasoning").isTextual() && !c.path("reasoning").asText().isBlank()).count();
      assertTrue(withReasoning > 0, "the reasoning proposer's calls carry their reasoning");
      // The inline thinker's blocks were taken out of its answers and kept in lineage.
      assertTrue(calls.stream().anyMatch(c -> c.path("model").asText().equals("thinker")
          && c.path("reasoning").isTextual()), "the inline thinker's blocks are kept as reasoning");
    }
  }

  @Test
  void aReasoningProposerWithTooSmallALimit_failsOnceWithAReasonThatSaysSo() throws Exception {
    TransformersServe serve = TransformersServe.shared();
    Path work = Fixtures.workDir("real-sft-exhausted");
    int rows = 3;
    Path input = prompts(work.resolve("in"), rows);
    // one request at a time: the server's seed is process-wide, and requests of the three proposers
    // running together drew from it in any order (a run once had every reasoner call close its
    // thinking within the limit); alone, each request's seed gives it the same answer every run
    try (UsageCountingProxy proxy = new UsageCountingProxy(serve.baseUrl(), true)) {
      // transformers serve ignores max_completion_tokens (OpenAI's field): the limit that binds it is max_tokens
      Files.writeString(work.resolve("c.yaml"), sftConfig(serve, proxy, 4)
          .replace("max_tokens: 4,", "max_tokens: 4, max_completion_tokens: 4,"));
      Path out = work.resolve("out");
      Fixtures.Run run = Fixtures.moaa("sft", "--config=" + work.resolve("c.yaml"), "--input=" + input,
          "--output=" + out);
      assertTrue(run.code() == 0 || run.code() == 4, run.err());
      JsonNode m = Fixtures.manifest(out);
      Fixtures.assertReconciles(m, rows, m.path("counts").path("written").asLong(),
          m.path("counts").path("dead_lettered").asLong(), 0);
      List<JsonNode> exhausted = calls(out).stream().filter(c -> c.path("model").asText().equals("reasoner")
          && "reasoning_exhausted".equals(c.path("error_kind").asText())).toList();
      assertFalse(exhausted.isEmpty(), "the reasoner ran out of tokens while thinking");
      // not retried at the same limit: no request body answered exhausted is ever sent again (a call
      // may have had an earlier attempt that failed otherwise: the tiny random model can answer empty)
      assertEquals(0, proxy.resentAfterExhausted(), "a request sent again after an exhausted answer");
      for (JsonNode c : exhausted) {
        assertTrue(c.path("attempts").asInt() >= 1, c.toString());
        assertTrue(c.path("error").asText().contains("spent its whole completion budget on reasoning"), c.toString());
        assertTrue(c.path("completion_tokens").asLong() > 0, "the tokens it spent are counted: " + c);
      }
      assertEquals(proxy.promptTokens(), m.path("totals").path("prompt_tokens").asLong());
      assertEquals(proxy.completionTokens(), m.path("totals").path("completion_tokens").asLong());
    }
  }

  @Test
  void dpoWithItsPolicyOnTransformersServe_fillsTheCandidatesTheServerWouldNot_andCountsItsTokens() throws Exception {
    TransformersServe serve = TransformersServe.shared();
    Path work = Fixtures.workDir("real-dpo");
    int rows = 3;
    int k = 3;
    Path input = prompts(work.resolve("in"), rows);
    try (UsageCountingProxy proxy = new UsageCountingProxy(serve.baseUrl());
        SimulatedEndpoint judges = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(5))) {
      String yaml = "defaults:\n"
          + "  base_url: " + judges.baseUrl() + "\n"
          + "  max_concurrency: 4\n"
          + "  read_timeout_ms: 120000\n"
          + "  retry: {max_attempts: 2, initial_backoff_ms: 10, max_backoff_ms: 50}\n"
          + "  price: {input_per_million: 1.0, output_per_million: 2.0}\n"
          + "models:\n"
          + "  policy: {base_url: " + proxy.baseUrl() + ", model: " + serve.modelPath(TransformersServe.PLAIN)
          + ", max_tokens: 24, max_concurrency: 2, seed: 5}\n"
          + "  j1: {model: sim-judge-1}\n"
          + "  j2: {model: sim-judge-2}\n"
          + "  lead: {model: sim-judge-lead}\n"
          + "dpo:\n"
          + "  policy: policy\n"
          + "  k: " + k + "\n"
          + "  use_n: true\n"
          + "  temperature: 1.0\n"
          + "  seed: 100\n"
          + "  judge: {mode: moa, judges: [j1, j2], aggregator: lead, criteria: {enabled: false}}\n"
          + "cache: {backend: none}\n"
          + "clean: {decontaminate: false}\n";
      Files.writeString(work.resolve("c.yaml"), yaml);
      Path out = work.resolve("out");
      Fixtures.Run run = Fixtures.moaa("dpo", "--config=" + work.resolve("c.yaml"), "--input=" + input,
          "--output=" + out, "--preflight=true");
      assertEquals(0, run.code(), run.out() + run.err());
      assertTrue(run.out().contains("at most"), "the plan prints an upper bound: " + run.out());
      JsonNode m = Fixtures.manifest(out);
      JsonNode counts = m.path("counts");
      Fixtures.assertReconciles(m, rows, counts.path("written").asLong(), counts.path("dead_lettered").asLong(),
          counts.path("dropped").asLong());
      assertTrue(counts.path("written").asLong() > 0, run.out());

      // The server answered one choice per request: the client asked for the other K-1 with their own seeds.
      // (distinct requests: the tiny random model may answer one empty, which the client sends again)
      long policyRequests = proxy.distinctAnsweredBodies() - 1; // one was the preflight's probe
      assertEquals((long) rows * k, policyRequests, proxy.statusCounts().toString());
      JsonNode policy = m.path("models").path("policy");
      assertEquals(proxy.promptTokens() - m.path("preflight").path("models").path(0).path("prompt_tokens").asLong(),
          policy.path("prompt_tokens").asLong(), "the policy's prompt tokens are what the server billed");
      assertEquals(proxy.completionTokens() - m.path("preflight").path("models").path(0).path("completion_tokens").asLong(),
          policy.path("completion_tokens").asLong());
      for (GenericRecord r : Fixtures.readParquet(out.resolve("dpo/parquet"))) {
        JsonNode row = Fixtures.JSON.readTree(r.toString());
        assertEquals(k, row.path("candidates").size());
        assertNoThinkTags("a chosen answer", row.path("chosen").toString());
        assertNoThinkTags("a rejected answer", row.path("rejected").toString());
      }
    }
  }

  @Test
  void aModelTheServerDoesNotServe_stopsThePreflightWithExit2_andNothingIsProcessed() throws Exception {
    TransformersServe serve = TransformersServe.shared();
    Path work = Fixtures.workDir("real-unknown-model");
    Path input = prompts(work.resolve("in"), 2);
    try (UsageCountingProxy proxy = new UsageCountingProxy(serve.baseUrl())) {
      Files.writeString(work.resolve("c.yaml"), sftConfig(serve, proxy, 64)
          .replace(serve.modelPath(TransformersServe.INLINE_THINK), work.resolve("no-such-model").toString()));
      Fixtures.Run run = Fixtures.moaa("sft", "--config=" + work.resolve("c.yaml"), "--input=" + input,
          "--output=" + work.resolve("out"), "--preflight=true");
      assertEquals(2, run.code(), run.out() + run.err());
      assertTrue(run.err().contains("model thinker (" + work.resolve("no-such-model")), run.err());
      assertTrue(run.err().contains("HTTP 500"), run.err());
      assertFalse(Files.exists(work.resolve("out")), "no row was processed");
      // only the probes were sent, each with the probe's own retries (a 429, 5xx or timeout is tried
      // up to three times): the model the server does not serve three times, each other model until
      // its one 200 (a busy server can answer a probe 5xx once: seen in a full-suite run)
      java.util.Map<String, java.util.List<Integer>> byModel = new java.util.TreeMap<>();
      proxy.requests().stream().filter(e -> e.path().endsWith("/chat/completions"))
          .forEach(e -> byModel.computeIfAbsent(e.model(), k -> new java.util.ArrayList<>()).add(e.status()));
      System.out.println("preflight requests seen by the proxy, statuses by model: " + byModel);
      String missing = work.resolve("no-such-model").toString();
      assertEquals(java.util.List.of(500, 500, 500), byModel.get(missing), "three tries for the failing one: " + byModel);
      assertEquals(3, byModel.size(), "one probe per endpoint, nothing else: " + byModel);
      byModel.forEach((model, statuses) -> {
        if (!model.equals(missing)) {
          assertTrue(statuses.size() <= 3 && statuses.get(statuses.size() - 1) == 200
              && statuses.stream().filter(st -> st == 200).count() == 1,
              model + ": one answered probe, after at most two refused tries: " + byModel);
        }
      });
    }
  }
}

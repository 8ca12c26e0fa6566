package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * A real {@code transformers serve} with the three tiny models, reached through the usage-counting
 * proxy. The answers are sampled, so every request carries a {@code seed}: on the CPU the same seed
 * gives the same answer, and the seeds below were chosen for answers that show what each model is for
 * (the models' per-token odds are in tests/realserver/tiny_models.py).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TransformersServeSmokeTest {
  /** With this seed each model's answer shows what it is for (see the asserts). */
  private static final int SEED = 3;

  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
  private TransformersServe serve;
  private UsageCountingProxy proxy;

  @BeforeAll
  void start() {
    serve = TransformersServe.shared();
    System.out.println("transformers serve answered after " + serve.startup().toMillis() + " ms at " + serve.baseUrl());
    proxy = new UsageCountingProxy(serve.baseUrl());
  }

  @AfterAll
  void stop() {
    if (proxy != null) {
      proxy.close();
    }
  }

  @Test
  void plainModelAnswersContentAndUsageThatTheProxyCounts() throws Exception {
    proxy.reset();
    JsonNode r = chat(TransformersServe.PLAIN, 24, SEED);
    JsonNode message = r.path("choices").path(0).path("message");
    assertFalse(message.path("content").asText().isEmpty(), r.toString());
    assertFalse(message.has("reasoning_content"), r.toString());
    JsonNode usage = r.path("usage");
    assertTrue(usage.path("prompt_tokens").asLong() > 0, r.toString());
    assertTrue(usage.path("completion_tokens").asLong() > 0, r.toString());
    assertEquals(usage.path("prompt_tokens").asLong() + usage.path("completion_tokens").asLong(),
        usage.path("total_tokens").asLong(), r.toString());

    assertEquals(1, proxy.count());
    assertEquals(1, proxy.countByStatus(200));
    assertEquals(1, proxy.countByModel(serve.modelPath(TransformersServe.PLAIN)));
    assertEquals(0, proxy.withoutUsage());
    assertEquals(usage.path("prompt_tokens").asLong(), proxy.promptTokens());
    assertEquals(usage.path("completion_tokens").asLong(), proxy.completionTokens());
    assertEquals("/v1/chat/completions", proxy.requests().get(0).path());

    // sampled: another seed, another answer; the same seed, the same answer
    String other = chat(TransformersServe.PLAIN, 24, SEED + 1).path("choices").path(0).path("message").path("content").asText();
    assertNotEquals(message.path("content").asText(), other);
    String again = chat(TransformersServe.PLAIN, 24, SEED).path("choices").path(0).path("message").path("content").asText();
    assertEquals(message.path("content").asText(), again);
    assertEquals(3, proxy.countByStatus(200));
  }

  @Test
  void reasoningModelAnswersReasoningContent() throws Exception {
    JsonNode r = chat(TransformersServe.REASONING, 24, SEED);
    JsonNode message = r.path("choices").path(0).path("message");
    assertFalse(message.path("reasoning_content").asText().isEmpty(), r.toString());
    assertTrue(r.path("usage").path("completion_tokens").asLong() > 0, r.toString());
    assertFalse(r.path("usage").has("completion_tokens_details"), r.toString()); // 5.17 does not count them

    // a generous budget: the thinking closes, then content, then <|im_end|>
    JsonNode full = chat(TransformersServe.REASONING, 400, SEED);
    JsonNode choice = full.path("choices").path(0);
    assertEquals("stop", choice.path("finish_reason").asText(), full.toString());
    assertFalse(choice.path("message").path("content").asText().isEmpty(), full.toString());
    assertTrue(choice.path("message").path("reasoning_content").asText()
        .startsWith(message.path("reasoning_content").asText()), full.toString());
  }

  @Test
  void reasoningModelSpendsATinyBudgetOnReasoning() throws Exception {
    JsonNode r = chat(TransformersServe.REASONING, 4, SEED);
    JsonNode choice = r.path("choices").path(0);
    assertEquals("length", choice.path("finish_reason").asText(), r.toString());
    assertEquals("", choice.path("message").path("content").asText(), r.toString());
    assertFalse(choice.path("message").path("reasoning_content").asText().isEmpty(), r.toString());
    assertEquals(4, r.path("usage").path("completion_tokens").asLong(), r.toString());
  }

  @Test
  void inlineThinkModelKeepsTheTagsInContent() throws Exception {
    List<String> contents = new ArrayList<>();
    for (int seed = 1; seed <= 3; seed++) {
      JsonNode r = chat(TransformersServe.INLINE_THINK, 24, seed);
      JsonNode message = r.path("choices").path(0).path("message");
      assertFalse(message.has("reasoning_content"), r.toString());
      contents.add(message.path("content").asText());
    }
    assertTrue(contents.stream().anyMatch(c -> c.contains("<think>") || c.contains("</think>")), contents.toString());
  }

  @Test
  void proxyCountsConcurrentRequests() throws Exception {
    try (UsageCountingProxy counting = new UsageCountingProxy(serve.baseUrl())) {
      ExecutorService pool = Executors.newFixedThreadPool(12);
      try {
        List<Future<HttpResponse<String>>> answers = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
          String model = TransformersServe.MODELS.get(i % 3);
          answers.add(pool.submit(() -> post(counting.baseUrl(), model, 6, 0)));
        }
        long prompt = 0;
        long completion = 0;
        for (Future<HttpResponse<String>> f : answers) {
          HttpResponse<String> resp = f.get(60, TimeUnit.SECONDS);
          assertEquals(200, resp.statusCode(), resp.body());
          JsonNode usage = Fixtures.JSON.readTree(resp.body()).path("usage");
          prompt += usage.path("prompt_tokens").asLong();
          completion += usage.path("completion_tokens").asLong();
        }
        assertEquals(24, counting.countByStatus(200));
        assertEquals(prompt, counting.promptTokens());
        assertEquals(completion, counting.completionTokens());
        for (String model : TransformersServe.MODELS) {
          assertEquals(8, counting.countByModel(serve.modelPath(model)), counting.modelCounts().toString());
        }
      } finally {
        pool.shutdownNow();
      }
    }
  }

  @Test
  void proxyAnswersAForcedStatus() throws Exception {
    try (UsageCountingProxy refusing = new UsageCountingProxy(serve.baseUrl())) {
      refusing.failWith(401, "{\"error\":{\"message\":\"bad key\",\"type\":\"invalid_request_error\"}}");
      HttpResponse<String> resp = post(refusing.baseUrl(), TransformersServe.PLAIN, 4, 1);
      assertEquals(401, resp.statusCode());
      assertEquals("bad key", Fixtures.JSON.readTree(resp.body()).path("error").path("message").asText());
      assertEquals(Map.of(401, 1L), refusing.statusCounts());
      assertEquals(0, refusing.completionTokens());
    }
  }

  private JsonNode chat(String model, int maxTokens, int seed) throws IOException, InterruptedException {
    HttpResponse<String> resp = post(proxy.baseUrl(), model, maxTokens, seed);
    assertEquals(200, resp.statusCode(), resp.body() + "\nserver log:\n" + serve.logTail(30));
    return Fixtures.JSON.readTree(resp.body());
  }

  /** A chat completion request; {@code seed} 0 sends none. */
  private HttpResponse<String> post(String baseUrl, String model, int maxTokens, int seed)
      throws IOException, InterruptedException {
    ObjectNode body = Fixtures.JSON.createObjectNode();
    body.put("model", serve.modelPath(model));
    body.putArray("messages")
        .add(Fixtures.JSON.createObjectNode().put("role", "system").put("content", "You are a terse assistant."))
        .add(Fixtures.JSON.createObjectNode().put("role", "user").put("content", "Name a prime number."));
    body.put("max_tokens", maxTokens);
    if (seed != 0) {
      body.put("seed", seed);
    }
    HttpRequest req = HttpRequest.newBuilder(URI.create(baseUrl + "/chat/completions"))
        .timeout(Duration.ofSeconds(60))
        .header("Content-Type", "application/json")
        .header("Authorization", "Bearer test-key")
        .POST(HttpRequest.BodyPublishers.ofString(body.toString()))
        .build();
    return http.send(req, HttpResponse.BodyHandlers.ofString());
  }
}

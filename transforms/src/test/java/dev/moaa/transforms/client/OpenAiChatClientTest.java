package dev.moaa.transforms.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.moaa.schemas.Message;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The chat client against a scripted HTTP server: one scripted answer per request, in order. */
class OpenAiChatClientTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String KEY = "sk-unit-test-0123456789abcdefghij";

  private HttpServer server;
  private final Deque<Answer> script = new ConcurrentLinkedDeque<>();
  private final List<JsonNode> bodies = new CopyOnWriteArrayList<>();
  private final List<String> authHeaders = new CopyOnWriteArrayList<>();
  private final List<Long> sleeps = new ArrayList<>();

  private record Answer(int status, String body, String header, String headerValue, long delayMs) {}

  @BeforeEach
  void start() throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.setExecutor(Executors.newCachedThreadPool());
    server.createContext("/v1/chat/completions", this::serve);
    server.start();
  }

  @AfterEach
  void stop() {
    server.stop(0);
  }

  private void serve(HttpExchange ex) throws IOException {
    bodies.add(JSON.readTree(ex.getRequestBody().readAllBytes()));
    authHeaders.add(String.valueOf(ex.getRequestHeaders().getFirst("Authorization")));
    Answer a = script.poll();
    if (a == null) {
      a = ok("fallback", "stop");
    }
    if (a.delayMs > 0) {
      try {
        Thread.sleep(a.delayMs);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (a.header != null) {
      ex.getResponseHeaders().add(a.header, a.headerValue);
    }
    byte[] b = a.body.getBytes(StandardCharsets.UTF_8);
    ex.sendResponseHeaders(a.status, b.length == 0 ? -1 : b.length);
    if (b.length > 0) {
      ex.getResponseBody().write(b);
    }
    ex.close();
  }

  private static Answer ok(String content, String finish) {
    return new Answer(200, "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"" + content
        + "\"},\"finish_reason\":\"" + finish + "\"}],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":7}}",
        null, null, 0);
  }

  private static Answer status(int code, String body) {
    return new Answer(code, body, null, null, 0);
  }

  private OpenAiChatClient client(int attempts, int readTimeoutMs, String key) {
    ModelEndpoint e = ModelEndpoint.builder("m", "http://127.0.0.1:" + server.getAddress().getPort() + "/v1/", "model-x")
        .temperature(0.5).topP(0.9).maxTokens(64).seed(7L).stop(List.of("###"))
        .readTimeoutMs(readTimeoutMs).connectTimeoutMs(1000)
        .retry(RetryPolicy.of(attempts, 100, 1000)).build();
    return OpenAiChatClient.create(e, key, sleeps::add);
  }

  private static ChatRequest hello() {
    return ChatRequest.of(List.of(new Message("system", "be brief"), new Message("user", "hello")));
  }

  @Test
  void sendsTheOpenAiRequestWithSamplingParametersAndBearerKey_andReadsContentAndUsage() throws Exception {
    script.add(ok("hi there", "stop"));
    ChatResponse r = client(3, 2000, KEY).complete(hello());
    assertEquals("hi there", r.content());
    assertEquals(11, r.promptTokens());
    assertEquals(7, r.completionTokens());
    assertEquals(1, r.attempts());
    assertFalse(r.truncated());
    JsonNode sent = bodies.get(0);
    assertEquals("model-x", sent.get("model").asText());
    assertEquals("system", sent.get("messages").get(0).get("role").asText());
    assertEquals("hello", sent.get("messages").get(1).get("content").asText());
    assertEquals(0.5, sent.get("temperature").asDouble());
    assertEquals(0.9, sent.get("top_p").asDouble());
    assertEquals(64, sent.get("max_tokens").asInt());
    assertEquals(7, sent.get("seed").asLong());
    assertEquals("###", sent.get("stop").get(0).asText());
    assertEquals("Bearer " + KEY, authHeaders.get(0));
  }

  @Test
  void givenNoKey_sendsNoAuthorizationHeader() throws Exception {
    script.add(ok("x", "stop"));
    client(1, 2000, null).complete(hello());
    assertEquals("null", authHeaders.get(0));
  }

  @Test
  void givenQuotaError_retriesAfterTheServersRetryAfterThenEmits() throws Exception {
    script.add(new Answer(429, "{\"error\":\"slow down\"}", "Retry-After", "2", 0));
    script.add(new Answer(429, "{\"error\":\"slow down\"}", "retry-after-ms", "1500", 0));
    script.add(ok("finally", "stop"));
    ChatResponse r = client(5, 2000, KEY).complete(hello());
    assertEquals("finally", r.content());
    assertEquals(3, r.attempts());
    assertEquals(2, r.retries());
    assertTrue(sleeps.get(0) >= 2000, "Retry-After seconds honoured: " + sleeps);
    assertTrue(sleeps.get(1) >= 1500, "retry-after-ms honoured: " + sleeps);
  }

  @Test
  void givenQuotaErrorsAndServerErrors_countsThe429sApartFromTheOtherRetries_andTimesTheCall() throws Exception {
    script.add(status(429, "{\"error\":\"slow down\"}"));
    script.add(status(503, "overloaded"));
    script.add(status(429, "{\"error\":\"slow down\"}"));
    script.add(new Answer(200, ok("done", "stop").body(), null, null, 30));
    long before = System.currentTimeMillis();
    ChatResponse r = client(5, 2000, KEY).complete(hello());
    long after = System.currentTimeMillis();
    assertEquals(4, r.attempts());
    assertEquals(3, r.retries());
    assertEquals(2, r.rateLimited(), "two of the three retried attempts were 429s");
    assertTrue(r.startedAtMs() >= before && r.startedAtMs() <= after, "started " + r.startedAtMs());
    assertTrue(r.endedAtMs() >= r.startedAtMs() + 30 && r.endedAtMs() <= after, "ended " + r.endedAtMs());
    assertEquals(r.latencyMs(), r.endedAtMs() - r.startedAtMs());
  }

  @Test
  void given429sBetweenOtherFaults_the429sWaitWithoutSpendingAttempts() throws Exception {
    script.add(status(429, "no"));
    script.add(status(500, "no"));
    script.add(status(429, "no"));
    long before = System.currentTimeMillis();
    ChatResponse r = client(2, 2000, KEY).complete(hello());
    assertEquals("fallback", r.content());
    assertEquals(4, r.attempts(), "one 5xx of the two attempts allowed; the 429s are waits");
    assertEquals(2, r.rateLimited());
    assertTrue(r.startedAtMs() >= before && r.endedAtMs() >= r.startedAtMs(), r.startedAtMs() + " " + r.endedAtMs());
  }

  @Test
  void givenOnly429s_failsRateLimitedOnceItsTotalWaitIsSpent_withEveryAttemptCountedAsA429() {
    for (int i = 0; i < 10; i++) {
      script.add(new Answer(429, "slow down", "retry-after-ms", "100", 0));
    }
    ModelEndpoint e = ModelEndpoint.builder("m", "http://127.0.0.1:" + server.getAddress().getPort() + "/v1", "model-x")
        .readTimeoutMs(2000).connectTimeoutMs(1000).retry(RetryPolicy.of(2, 10, 100, 350)).build();
    ChatException ex = assertThrows(ChatException.class,
        () -> OpenAiChatClient.create(e, KEY, sleeps::add).complete(hello()));
    assertEquals(ErrorKind.RATE_LIMITED, ex.kind());
    assertEquals(4, ex.attempts(), "three waits of 100 ms fit in 350 ms, a fourth does not");
    assertEquals(4, ex.rateLimited());
    assertEquals(List.of(100L, 100L, 100L), sleeps);
  }

  @Test
  void givenServerErrorsMalformedAndEmptyBodies_retriesEachThenSucceeds() throws Exception {
    script.add(status(503, "overloaded"));
    script.add(status(200, "{\"choices\": [ {\"mess"));
    script.add(ok("", "stop"));
    script.add(ok("good", "stop"));
    ChatResponse r = client(5, 2000, KEY).complete(hello());
    assertEquals("good", r.content());
    assertEquals(4, r.attempts());
    for (int i = 0; i < sleeps.size(); i++) {
      long cap = Math.min(1000, 100L << i);
      assertTrue(sleeps.get(i) >= cap / 2 && sleeps.get(i) <= cap, "backoff with jitter in [cap/2, cap]: " + sleeps);
    }
  }

  @Test
  void givenTimeouts_retriesUpToTheLimitThenFailsWithTimeout() {
    for (int i = 0; i < 2; i++) {
      script.add(new Answer(200, "{}", null, null, 1500));
    }
    ChatException e = assertThrows(ChatException.class, () -> client(2, 300, KEY).complete(hello()));
    assertEquals(ErrorKind.TIMEOUT, e.kind());
    assertEquals(2, e.attempts());
  }

  @Test
  void givenAClientError_doesNotRetry_andRedactsAKeyEchoedInTheBody() {
    script.add(status(400, "{\"error\":\"bad request\",\"echo\":{\"Authorization\":\"Bearer " + KEY + "\"},\"raw\":\"" + KEY + "\"}"));
    ChatException e = assertThrows(ChatException.class, () -> client(5, 2000, KEY).complete(hello()));
    assertEquals(ErrorKind.CLIENT_ERROR, e.kind());
    assertEquals(400, e.httpStatus());
    assertEquals(1, e.attempts());
    assertEquals(1, bodies.size(), "no retry of a 4xx");
    assertFalse(e.getMessage().contains(KEY), e.getMessage());
    assertFalse(e.getMessage().contains(KEY.substring(3)), e.getMessage());
    assertTrue(e.getMessage().contains(Redactor.MASK));
  }

  @Test
  void givenFinishReasonLength_marksTheAnswerTruncated() throws Exception {
    script.add(ok("cut off", "length"));
    assertTrue(client(1, 2000, KEY).complete(hello()).truncated());
  }

  @Test
  void givenPersistentEmptyContent_failsWithEmptyContent() {
    for (int i = 0; i < 3; i++) {
      script.add(ok(" ", "stop"));
    }
    ChatException e = assertThrows(ChatException.class, () -> client(3, 2000, KEY).complete(hello()));
    assertEquals(ErrorKind.EMPTY_CONTENT, e.kind());
    assertEquals(3, e.attempts());
  }

  @Test
  void givenNothingListening_failsWithAConnectionError() {
    server.stop(0);
    ChatException e = assertThrows(ChatException.class, () -> client(2, 500, KEY).complete(hello()));
    assertEquals(ErrorKind.CONNECTION, e.kind());
    assertEquals(2, e.attempts());
  }

  @Test
  void parsesRetryAfterAsSecondsOrHttpDate() {
    assertEquals(3000, OpenAiChatClient.parseRetryAfter("3"));
    assertEquals(-1, OpenAiChatClient.parseRetryAfter("soon"));
    assertEquals(-1, OpenAiChatClient.parseRetryAfter(null));
    String inTenSeconds = java.time.format.DateTimeFormatter.RFC_1123_DATE_TIME
        .format(java.time.ZonedDateTime.now(java.time.ZoneOffset.UTC).plusSeconds(10));
    long ms = OpenAiChatClient.parseRetryAfter(inTenSeconds);
    assertTrue(ms > 8000 && ms <= 10000, "date form: " + ms);
  }

  @Test
  void missingKeyVariable_isAClearNonRetryableError() {
    ModelEndpoint e = ModelEndpoint.builder("m", "http://127.0.0.1:1/v1", "x")
        .apiKeyEnv("MOAA_SURELY_UNSET_VARIABLE_12345").build();
    ChatException ex = assertThrows(ChatException.class, e::resolveApiKey);
    assertEquals(ErrorKind.MISSING_API_KEY, ex.kind());
    assertTrue(ex.getMessage().contains("MOAA_SURELY_UNSET_VARIABLE_12345"));
  }

  @Test
  void redactor_removesTheKeyAndBearerOrAuthorizationValues() {
    assertEquals("x [REDACTED] y", Redactor.redact("x " + KEY + " y", KEY));
    assertEquals("Authorization: Bearer [REDACTED]", Redactor.redact("Authorization: Bearer abc.def", null));
    assertEquals("{\"authorization\": \"[REDACTED]\"}", Redactor.redact("{\"authorization\": \"tok123\"}", null));
  }

  // ---------------------------------------------------------------------------------------------
  // Tokens of every answered attempt, reasoning, servers that ignore n

  private static Answer raw(String body) {
    return new Answer(200, body, null, null, 0);
  }

  @Test
  void givenAnEmptyAnswerThenAGoodOne_billsBothAttempts() throws Exception {
    script.add(raw("{\"choices\":[{\"message\":{\"content\":\"\"},\"finish_reason\":\"stop\"}],"
        + "\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":3}}"));
    script.add(ok("fine", "stop"));
    ChatResponse r = client(3, 2000, KEY).complete(hello());
    assertEquals("fine", r.content());
    assertEquals(22, r.promptTokens(), "the unusable answer's prompt tokens were billed too");
    assertEquals(10, r.completionTokens());
    assertFalse(r.usageEstimated());
  }

  @Test
  void givenPersistentEmptyAnswers_theFailureCarriesWhatEveryAttemptWasBilled() {
    for (int i = 0; i < 3; i++) {
      script.add(raw("{\"choices\":[{\"message\":{\"content\":\" \"},\"finish_reason\":\"stop\"}],"
          + "\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":2}}"));
    }
    ChatException e = assertThrows(ChatException.class, () -> client(3, 2000, KEY).complete(hello()));
    assertEquals(ErrorKind.EMPTY_CONTENT, e.kind());
    assertEquals(new Usage(33, 6, 0, false), e.usage());
  }

  @Test
  void givenAnAnswerWithoutUsage_estimatesItAndSaysSo() throws Exception {
    script.add(raw("{\"choices\":[{\"message\":{\"content\":\"twelve chars\"},\"finish_reason\":\"stop\"}]}"));
    ChatResponse r = client(3, 2000, KEY).complete(hello());
    assertTrue(r.usageEstimated());
    assertTrue(r.promptTokens() > 0 && r.completionTokens() == 3, r.promptTokens() + " " + r.completionTokens());
  }

  @Test
  void givenReasoningContent_keepsItApartFromTheAnswer_andCountsReasoningTokens() throws Exception {
    script.add(raw("{\"choices\":[{\"message\":{\"content\":\"Paris.\",\"reasoning_content\":\"The capital...\"},"
        + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":30,"
        + "\"completion_tokens_details\":{\"reasoning_tokens\":25}}}"));
    ChatResponse r = client(3, 2000, KEY).complete(hello());
    assertEquals("Paris.", r.content());
    assertEquals("The capital...", r.reasoning());
    assertEquals(25, r.reasoningTokens());
    assertEquals(30, r.completionTokens());
  }

  @Test
  void givenThinkBlocksInline_takesThemOutOfTheAnswer() throws Exception {
    script.add(ok("<think>let me see</think>\\n\\nThe answer.", "stop"));
    script.add(ok("still thinking</think>Second answer.", "stop"));
    OpenAiChatClient c = client(3, 2000, KEY);
    ChatResponse first = c.complete(hello());
    assertEquals("The answer.", first.content());
    assertEquals("let me see", first.reasoning());
    ChatResponse second = c.complete(hello());
    assertEquals("Second answer.", second.content());
    assertEquals("still thinking", second.reasoning());
  }

  @Test
  void givenAModelThatKeepsItsReasoning_writesItBackAsOneThinkBlock() throws Exception {
    script.add(raw("{\"choices\":[{\"message\":{\"content\":\"Paris.\",\"reasoning\":\"capital\"},"
        + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":3}}"));
    ModelEndpoint e = ModelEndpoint.builder("m", "http://127.0.0.1:" + server.getAddress().getPort() + "/v1", "model-x")
        .keepReasoning(true).build();
    ChatResponse r = OpenAiChatClient.create(e, KEY, sleeps::add).complete(hello());
    assertEquals("<think>\ncapital\n</think>\n\nParis.", r.content());
  }

  @Test
  void givenTheWholeBudgetSpentThinking_failsOnceWithAReasonThatSaysSo() {
    script.add(raw("{\"choices\":[{\"message\":{\"content\":\"\",\"reasoning_content\":\"hmm hmm\"},"
        + "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":16,"
        + "\"completion_tokens_details\":{\"reasoning_tokens\":16}}}"));
    script.add(ok("never asked", "stop"));
    ChatException e = assertThrows(ChatException.class, () -> client(5, 2000, KEY).complete(hello()));
    assertEquals(ErrorKind.REASONING_EXHAUSTED, e.kind());
    assertEquals(1, e.attempts(), "not retried at the same limit");
    assertEquals(1, bodies.size());
    assertTrue(e.getMessage().contains("whole completion budget on reasoning"), e.getMessage());
    assertEquals(new Usage(9, 16, 16, false), e.usage());
  }

  @Test
  void sendsMaxCompletionTokensAndReasoningEffortAsGiven() throws Exception {
    ModelEndpoint e = ModelEndpoint.builder("m", "http://127.0.0.1:" + server.getAddress().getPort() + "/v1", "model-x")
        .maxCompletionTokens(900).reasoningEffort("low").build();
    OpenAiChatClient.create(e, KEY, sleeps::add).complete(hello());
    assertEquals(900, bodies.get(0).path("max_completion_tokens").asInt());
    assertEquals("low", bodies.get(0).path("reasoning_effort").asText());
    assertFalse(bodies.get(0).has("max_tokens"));
  }

  @Test
  void givenAServerThatIgnoresN_asksForTheOtherChoicesOneByOneWithTheirOwnSeeds() throws Exception {
    script.add(ok("one", "stop"));
    script.add(ok("two", "stop"));
    script.add(ok("three", "stop"));
    ChatResponse r = client(3, 2000, KEY).complete(hello().withN(3));
    assertEquals(List.of("one", "two", "three"), r.choices());
    assertEquals(3, bodies.size());
    assertEquals(3, bodies.get(0).path("n").asInt());
    assertEquals(List.of(7L, 8L, 9L), bodies.stream().map(b -> b.path("seed").asLong()).toList());
    assertFalse(bodies.get(1).has("n"));
    assertEquals(33, r.promptTokens());
    assertEquals(21, r.completionTokens());
    assertEquals(3, r.attempts());
  }

  @Test
  void probe_acceptsAnyAnswer_andNamesWhatTheServerSaid() {
    script.add(raw("{\"choices\":[{\"message\":{\"content\":\"\"},\"finish_reason\":\"length\"}],"
        + "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1}}"));
    script.add(status(401, "{\"error\":\"bad key " + KEY + "\"}"));
    OpenAiChatClient c = client(3, 2000, KEY);
    OpenAiChatClient.Probe ok = c.probe(hello());
    assertTrue(ok.ok());
    assertEquals(new Usage(5, 1, 0, false), ok.usage());
    OpenAiChatClient.Probe refused = c.probe(hello());
    assertFalse(refused.ok());
    assertEquals(401, refused.status());
    assertFalse(refused.detail().contains(KEY), refused.detail());
  }

  /**
   * A restarted job's subtasks once left every call thread of a surviving worker waiting for ever
   * in the JVM's gate: a call whose cluster gate failed with an unchecked exception (the worker's
   * coordinator closed under it) kept its gate permit. Every permit now goes back.
   */
  @Test
  void givenACoordinatorClosedUnderTheCall_theCallFailsCoordination_andTheGateKeepsNoPermit() throws Exception {
    ModelEndpoint e = ModelEndpoint.builder("m", "http://127.0.0.1:1/v1", "x").maxConcurrency(2).build();
    dev.moaa.transforms.limits.Coordinator closed =
        dev.moaa.transforms.limits.Coordination.inJvm("closed-" + System.nanoTime()).open();
    closed.close();
    OpenAiChatClient c = OpenAiChatClient.create(e, null, ms -> { }, new ClusterGate(closed, e));
    try {
      for (int i = 0; i < 5; i++) {
        ChatException ex = assertThrows(ChatException.class,
            () -> c.complete(ChatRequest.of(List.of(new Message("user", "hi")))));
        assertEquals(ErrorKind.COORDINATION, ex.kind(), ex.getMessage());
      }
      assertEquals(0, c.gateStats().inFlight(), "no permit kept by a call that ended");
    } finally {
      c.close();
    }
  }
}

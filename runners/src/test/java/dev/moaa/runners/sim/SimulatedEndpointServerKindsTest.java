package dev.moaa.runners.sim;

import static dev.moaa.runners.sim.SimRequests.chat;
import static dev.moaa.runners.sim.SimRequests.msg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The simulated endpoint behaving like other kinds of servers: ones that ignore {@code n}, throw
 * 429s whatever the load, queue instead of refusing, answer as reasoning models, or leave out
 * usage; and what it counts and bills per model.
 */
class SimulatedEndpointServerKindsTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient CLIENT = HttpClient.newBuilder()
      .version(HttpClient.Version.HTTP_1_1)
      .connectTimeout(Duration.ofSeconds(5))
      .build();

  private final List<SimulatedEndpoint> started = new ArrayList<>();

  @AfterEach
  void closeEndpoints() {
    started.forEach(SimulatedEndpoint::close);
  }

  // ---------------------------------------------------------------------------------------------
  // ignoring n

  @Test
  void givenIgnoreN_nOfThreeGetsOneChoice_theSingleAnswer_andUsageCountsOneCompletion()
      throws Exception {
    SimulatedEndpoint sim = start(defaults().withWordsPerAnswer(6).withIgnoreN(true));
    String single = content(post(sim, chat("model-a", msg("user", "Pick a colour."))));
    ObjectNode request = chat("model-a", msg("user", "Pick a colour."));
    request.put("n", 3);
    JsonNode body = JSON.readTree(post(sim, request).body());

    assertEquals(1, body.get("choices").size());
    assertEquals(single, body.at("/choices/0/message/content").asText());
    assertEquals(tokens(single), body.at("/usage/completion_tokens").asLong());
    assertEquals(body.at("/usage/prompt_tokens").asLong() + tokens(single),
        body.at("/usage/total_tokens").asLong());
    assertTrue(defaults().withIgnoreN(true).toString().contains("ignoreN=true"));
  }

  // ---------------------------------------------------------------------------------------------
  // 429 whatever the load

  @Test
  void givenRate429OfOne_everyAttemptIs429AtOnce_withRetryHints_andAnAttemptNumber()
      throws Exception {
    SimulatedEndpoint sim =
        start(defaults().withRate429(1.0).withLatencyMs(500).withRetryAfterMs(70));
    ObjectNode request = chat("stormy", msg("user", "hello"));
    long before = System.nanoTime();
    HttpResponse<String> first = post(sim, request);
    HttpResponse<String> second = post(sim, request);
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - before);

    for (HttpResponse<String> response : List.of(first, second)) {
      assertEquals(429, response.statusCode());
      assertEquals("70", response.headers().firstValue("retry-after-ms").orElse(null));
      assertEquals("1", response.headers().firstValue("Retry-After").orElse(null));
      JsonNode error = JSON.readTree(response.body()).get("error");
      assertEquals("rate_limit_error", error.get("type").asText());
      assertEquals("rate_limit_exceeded", error.get("code").asText());
    }
    assertTrue(tookMs < 450, "a 429 comes before any latency, two took " + tookMs + " ms");
    assertEquals(List.of(1, 2), sim.requests().stream().map(RecordedRequest::attempt).toList());
    assertEquals(2, sim.count429());
    assertEquals(2, sim.statusCount("stormy", 429));
    assertEquals(0, sim.peakInFlight("stormy"), "a 429 never holds a slot while answered");
    JsonNode stats = JSON.readTree(get(sim, "/sim/stats").body());
    assertEquals(2, stats.at("/models/stormy/injected_faults/rate_limited").asInt());
    assertEquals(2, stats.at("/models/stormy/rate_limited_429").asInt());
  }

  @Test
  void given429And5xxAndTimeoutRates_theyMixOverDistinctRequests_inTheirShares()
      throws Exception {
    SimulatedEndpoint sim = start(defaults().withRate429(0.2).withRate5xx(0.2)
        .withRateTimeout(0.1).withTimeoutDelayMs(1).withSeed(5));
    Map<Integer, Integer> statuses = new HashMap<>();
    for (int i = 0; i < 400; i++) {
      int status = post(sim, chat("mixed", msg("user", "question " + i))).statusCode();
      statuses.merge(status >= 500 ? 500 : status, 1, Integer::sum);
    }
    JsonNode stats = JSON.readTree(get(sim, "/sim/stats").body());
    int timeouts = stats.at("/models/mixed/injected_faults/timeout").asInt();

    assertTrue(between(statuses.get(429), 50, 110), statuses.toString());
    assertTrue(between(statuses.get(500), 50, 110), statuses.toString());
    assertTrue(between(timeouts, 20, 65), "timeouts: " + timeouts);
    assertTrue(between(statuses.get(200), 170, 270), statuses.toString());
    assertEquals(sim.statusCount("mixed", 429), (long) statuses.get(429));
    assertEquals(400, sim.requestCount("mixed"));
  }

  @Test
  void givenMixedFaults_aRetriedBodyMeetsSeveralKinds_andIsAnsweredInTheEnd() throws Exception {
    SimulatedEndpoint sim =
        start(defaults().withRate429(0.4).withRate5xx(0.4).withSeed(1));
    boolean sawBothKinds = false;
    for (int body = 0; body < 20 && !sawBothKinds; body++) {
      ObjectNode request = chat("retry", msg("user", "body " + body));
      List<Integer> seen = new ArrayList<>();
      int status;
      do {
        status = post(sim, request).statusCode();
        seen.add(status);
      } while (status != 200 && seen.size() < 60);
      assertEquals(200, status, "no success after " + seen);
      sawBothKinds = seen.contains(429) && seen.stream().anyMatch(s -> s >= 500);
    }
    assertTrue(sawBothKinds, "one body should meet both a 429 and a 5xx before its answer");
  }

  @Test
  void rate429Draws_repeatForTheSameSeed() throws Exception {
    SimulatedEndpoint.Settings settings = defaults().withRate429(0.5).withSeed(21);
    assertEquals(statuses(start(settings)), statuses(start(settings)));
  }

  // ---------------------------------------------------------------------------------------------
  // queueing

  @Test
  void givenTwoQueueSlotsAnd100ms_sixConcurrentRequestsAllSucceedInAbout300ms_laterOnesWaiting()
      throws Exception {
    SimulatedEndpoint sim = start(defaults().withQueueSlots(2).withLatencyMs(100)
        .withMaxInFlightPerModel(1));
    post(sim, chat("warm-up", msg("user", "open connections")));
    List<CompletableFuture<long[]>> calls = new ArrayList<>();
    long before = System.nanoTime();
    for (int i = 0; i < 6; i++) {
      ObjectNode request = chat("queued", msg("user", "request " + i));
      long sent = System.nanoTime();
      calls.add(postAsync(sim, request).thenApply(response -> new long[] {
          response.statusCode(), TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - sent)}));
    }
    List<Long> latencies = new ArrayList<>();
    for (CompletableFuture<long[]> call : calls) {
      long[] result = call.get(10, TimeUnit.SECONDS);
      assertEquals(200, result[0], "a queueing server refuses nothing");
      latencies.add(result[1]);
    }
    long totalMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - before);
    latencies.sort(null);

    assertTrue(totalMs >= 290 && totalMs < 1_200, "6 requests on 2 slots of 100 ms took "
        + totalMs + " ms");
    assertTrue(latencies.get(0) >= 95, "latencies " + latencies);
    assertTrue(latencies.get(5) >= 280, "the last request waits two turns: " + latencies);
    assertTrue(latencies.get(5) - latencies.get(0) >= 150, "latencies " + latencies);
    assertEquals(0, sim.count429());
    assertEquals(6, sim.statusCount("queued", 200));
    assertEquals(6, sim.requestCount("queued"));
    assertEquals(6, sim.receivedCount("queued"));
    assertEquals(2, sim.peakInFlight("queued"));
    assertTrue(between(sim.peakQueueLength("queued"), 2, 4),
        "peak queue " + sim.peakQueueLength("queued"));
    assertEquals(0, sim.queueLength("queued"));
    assertEquals(0, sim.inFlight("queued"));

    List<Long> queued = sim.requests().stream()
        .filter(r -> r.model().equals("queued")).map(RecordedRequest::queuedMs).sorted().toList();
    assertTrue(queued.get(5) >= 150, "queued " + queued);
    assertTrue(queued.get(0) < 50 && queued.get(1) < 50, "queued " + queued);
    assertEquals(queued.stream().mapToLong(Long::longValue).sum(), sim.queueWaitMs("queued"));
    JsonNode stats = JSON.readTree(get(sim, "/sim/stats").body());
    assertEquals(sim.peakQueueLength("queued"), stats.at("/models/queued/peak_queued").asInt());
    assertEquals(2, stats.at("/models/queued/peak_in_flight").asInt());
  }

  @Test
  void givenOneQueueSlot_waitingRequestsAreServedFirstInFirstOut() throws Exception {
    SimulatedEndpoint sim = start(defaults().withQueueSlots(1).withLatencyMs(150));
    CompletableFuture<HttpResponse<String>> busy =
        postAsync(sim, chat("fifo", msg("user", "first")));
    awaitUntil(() -> sim.inFlight("fifo") == 1);
    CompletableFuture<HttpResponse<String>> second =
        postAsync(sim, chat("fifo", msg("user", "second")));
    awaitUntil(() -> sim.queueLength("fifo") == 1);
    CompletableFuture<HttpResponse<String>> third =
        postAsync(sim, chat("fifo", msg("user", "third")));
    awaitUntil(() -> sim.queueLength("fifo") == 2);

    for (CompletableFuture<HttpResponse<String>> call : List.of(busy, second, third)) {
      assertEquals(200, call.get(5, TimeUnit.SECONDS).statusCode());
    }
    List<String> answered = sim.requests().stream()
        .sorted(Comparator.comparingLong(RecordedRequest::answeredAtNanos))
        .map(r -> r.messages().get(0).content()).toList();
    assertEquals(List.of("first", "second", "third"), answered);
    assertEquals(1, sim.peakInFlight("fifo"));
    assertEquals(2, sim.peakQueueLength("fifo"));
  }

  @Test
  void givenQueueSlots_anotherModelHasItsOwnQueue() throws Exception {
    SimulatedEndpoint sim = start(defaults().withQueueSlots(1).withLatencyMs(400));
    CompletableFuture<HttpResponse<String>> busy =
        postAsync(sim, chat("model-a", msg("user", "slow")));
    awaitUntil(() -> sim.inFlight("model-a") == 1);

    long before = System.nanoTime();
    assertEquals(200, post(sim, chat("model-b", msg("user", "other"))).statusCode());
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - before);
    assertEquals(200, busy.get(5, TimeUnit.SECONDS).statusCode());
    assertTrue(tookMs < 750, "model-b waited for model-a's slot: " + tookMs + " ms");
    assertEquals(0, sim.peakQueueLength("model-b"));
  }

  // ---------------------------------------------------------------------------------------------
  // reasoning models

  @Test
  void modelNamedReasoner_answersWithReasoningContent_andCountsReasoningTokensInCompletion()
      throws Exception {
    SimulatedEndpoint sim = start(defaults().withWordsPerAnswer(8));
    JsonNode body = JSON.readTree(post(sim, chat("sim-reasoner", msg("user", "Why?"))).body());

    String reasoning = body.at("/choices/0/message/reasoning_content").asText();
    String content = body.at("/choices/0/message/content").asText();
    assertTrue(reasoning.startsWith("Let me think: "), reasoning);
    assertTrue(between(tokens(reasoning), 20, 45), "about 30 tokens: " + tokens(reasoning));
    assertTrue(content.startsWith("[simulated sim-reasoner "), content);
    assertFalse(content.contains("think"), content);
    assertEquals("stop", body.at("/choices/0/finish_reason").asText());
    assertEquals(tokens(reasoning),
        body.at("/usage/completion_tokens_details/reasoning_tokens").asLong());
    assertEquals(tokens(reasoning) + tokens(content), body.at("/usage/completion_tokens").asLong());
    assertEquals(body.at("/usage/prompt_tokens").asLong() + tokens(reasoning) + tokens(content),
        body.at("/usage/total_tokens").asLong());
  }

  @Test
  void reasoningModelsSetting_addsListedModels_whileOthersAnswerWithoutReasoning()
      throws Exception {
    SimulatedEndpoint sim = start(defaults().withReasoningModels(List.of("deep-r1")));
    JsonNode listed = JSON.readTree(post(sim, chat("deep-r1", msg("user", "hi"))).body());
    JsonNode plain = JSON.readTree(post(sim, chat("plain", msg("user", "hi"))).body());

    assertTrue(listed.at("/choices/0/message/reasoning_content").isTextual());
    assertTrue(listed.at("/usage/completion_tokens_details/reasoning_tokens").asLong() > 0);
    assertTrue(plain.at("/choices/0/message/reasoning_content").isMissingNode());
    assertTrue(plain.at("/usage/completion_tokens_details").isMissingNode());
    assertEquals(sim.billedReasoningTokens(),
        listed.at("/usage/completion_tokens_details/reasoning_tokens").asLong());
  }

  @Test
  void givenMaxCompletionTokensBelowTheReasoning_contentIsEmpty_finishIsLength_thinkingCut()
      throws Exception {
    SimulatedEndpoint sim = start(defaults());
    ObjectNode request = chat("sim-reasoner", msg("user", "Think hard."));
    String fullReasoning = JSON.readTree(post(sim, request).body())
        .at("/choices/0/message/reasoning_content").asText();
    request.put("max_completion_tokens", 10);
    JsonNode body = JSON.readTree(post(sim, request).body());

    assertEquals("", body.at("/choices/0/message/content").asText());
    assertEquals("length", body.at("/choices/0/finish_reason").asText());
    String reasoning = body.at("/choices/0/message/reasoning_content").asText();
    assertEquals(fullReasoning.substring(0, 40), reasoning);
    assertEquals(10, body.at("/usage/completion_tokens").asLong());
    assertEquals(10, body.at("/usage/completion_tokens_details/reasoning_tokens").asLong());

    ObjectNode exact = chat("sim-reasoner", msg("user", "Think hard."));
    exact.put("max_tokens", (int) tokens(fullReasoning));
    JsonNode noRoom = JSON.readTree(post(sim, exact).body());
    assertEquals("", noRoom.at("/choices/0/message/content").asText());
    assertEquals("length", noRoom.at("/choices/0/finish_reason").asText());
    assertEquals(fullReasoning, noRoom.at("/choices/0/message/reasoning_content").asText());
  }

  @Test
  void givenMaxTokensJustAboveTheReasoning_contentIsCutToWhatIsLeft() throws Exception {
    SimulatedEndpoint sim = start(defaults().withWordsPerAnswer(30));
    ObjectNode request = chat("sim-reasoner", msg("user", "Answer briefly."));
    JsonNode full = JSON.readTree(post(sim, request).body());
    long reasoningTokens = full.at("/usage/completion_tokens_details/reasoning_tokens").asLong();
    String fullContent = full.at("/choices/0/message/content").asText();
    request.put("max_tokens", (int) reasoningTokens + 3);
    JsonNode body = JSON.readTree(post(sim, request).body());

    assertEquals(fullContent.substring(0, 12), body.at("/choices/0/message/content").asText());
    assertEquals("length", body.at("/choices/0/finish_reason").asText());
    assertEquals(reasoningTokens + 3, body.at("/usage/completion_tokens").asLong());
  }

  @Test
  void thinkInlineModel_writesItsThinkingInContent_openingTagLeftOutWhenTheSignatureIsOdd()
      throws Exception {
    SimulatedEndpoint sim = start(defaults().withWordsPerAnswer(4)
        .withThinkInlineModels(List.of("r1-distill", "inline-reasoner")));
    int opened = 0;
    int unopened = 0;
    for (int i = 0; i < 24; i++) {
      JsonNode body = JSON.readTree(
          post(sim, chat("r1-distill", msg("user", "question " + i))).body());
      String content = body.at("/choices/0/message/content").asText();
      int close = content.indexOf("\n</think>\n\n");
      assertTrue(close > 0, content);
      String answer = content.substring(close + "\n</think>\n\n".length());
      assertTrue(answer.startsWith("[simulated r1-distill "), content);
      String sig = answer.substring("[simulated r1-distill ".length(), answer.indexOf(']'));
      boolean even = Character.digit(sig.charAt(9), 16) % 2 == 0;
      assertEquals(even, content.startsWith("<think>\nLet me think: "), content);
      assertTrue(even || content.startsWith("Let me think: "), content);
      if (even) {
        opened++;
      } else {
        unopened++;
      }
      assertTrue(body.at("/choices/0/message/reasoning_content").isMissingNode());
      assertTrue(body.at("/usage/completion_tokens_details").isMissingNode());
      assertEquals(tokens(content), body.at("/usage/completion_tokens").asLong());
    }
    assertTrue(opened > 0 && unopened > 0, opened + " opened, " + unopened + " not");

    String listedInline = content(post(sim, chat("inline-reasoner", msg("user", "hi"))));
    assertTrue(listedInline.contains("</think>"), "the list wins over the name: " + listedInline);
  }

  @Test
  void emptyFaultOnAReasoningModel_keepsTheThinking_andEmptiesTheContent() throws Exception {
    SimulatedEndpoint sim = start(defaults().withRateEmpty(1.0));
    JsonNode body = JSON.readTree(post(sim, chat("sim-reasoner", msg("user", "hi"))).body());
    assertEquals("", body.at("/choices/0/message/content").asText());
    assertEquals("stop", body.at("/choices/0/finish_reason").asText());
    String reasoning = body.at("/choices/0/message/reasoning_content").asText();
    assertEquals(tokens(reasoning), body.at("/usage/completion_tokens").asLong());
  }

  // ---------------------------------------------------------------------------------------------
  // usage left out, and what the endpoint billed

  @Test
  void givenRateNoUsageOfOne_answersHaveNoUsage_andNothingIsBilled() throws Exception {
    SimulatedEndpoint sim = start(defaults().withRateNoUsage(1.0));
    HttpResponse<String> response = post(sim, chat("model-a", msg("user", "hi")));
    JsonNode body = JSON.readTree(response.body());

    assertEquals(200, response.statusCode());
    assertTrue(body.get("usage") == null, response.body());
    assertTrue(body.at("/choices/0/message/content").asText().startsWith("[simulated "));
    assertEquals(1, sim.answersWithoutUsage("model-a"));
    assertEquals(0, sim.billedTokens("model-a"));
    assertEquals(0, sim.billedTokens());
  }

  @Test
  void billedTokens_matchTheUsageOfThe200Answers_perModelAndInTotal_andCountsAreByStatus()
      throws Exception {
    SimulatedEndpoint sim = start(defaults().withRateNoUsage(0.3).withRate5xx(0.2)
        .withRate429(0.1).withSeed(4).withReasoningModels(List.of("model-r")));
    Map<String, long[]> seen = new HashMap<>();
    Map<String, Map<Integer, Long>> statuses = new HashMap<>();
    long withoutUsage = 0;
    for (int i = 0; i < 120; i++) {
      String model = i % 2 == 0 ? "model-a" : "model-r";
      ObjectNode request = chat(model, msg("user", "question number " + i));
      if (i % 5 == 0) {
        request.put("max_tokens", 12);
      }
      HttpResponse<String> response = post(sim, request);
      statuses.computeIfAbsent(model, m -> new HashMap<>())
          .merge(response.statusCode(), 1L, Long::sum);
      if (response.statusCode() == 200) {
        JsonNode usage = JSON.readTree(response.body()).get("usage");
        if (usage == null) {
          withoutUsage++;
          continue;
        }
        long[] sums = seen.computeIfAbsent(model, m -> new long[3]);
        sums[0] += usage.get("prompt_tokens").asLong();
        sums[1] += usage.get("completion_tokens").asLong();
        sums[2] += usage.path("completion_tokens_details").path("reasoning_tokens").asLong();
      }
    }
    post(sim, "{\"model\":\"model-a\",\"messages\":[]}");

    assertTrue(between(withoutUsage, 10, 40), "answers without usage: " + withoutUsage);
    assertEquals(withoutUsage, sim.answersWithoutUsage());
    long prompt = 0;
    long completion = 0;
    for (String model : List.of("model-a", "model-r")) {
      long[] sums = seen.get(model);
      assertEquals(sums[0], sim.billedPromptTokens(model), model);
      assertEquals(sums[1], sim.billedCompletionTokens(model), model);
      assertEquals(sums[2], sim.billedReasoningTokens(model), model);
      assertEquals(sums[0] + sums[1], sim.billedTokens(model), model);
      prompt += sums[0];
      completion += sums[1];
      for (Map.Entry<Integer, Long> status : statuses.get(model).entrySet()) {
        assertEquals((long) status.getValue(), sim.statusCount(model, status.getKey()),
            model + " " + status.getKey());
      }
    }
    assertEquals(0, seen.get("model-a")[2]);
    assertTrue(seen.get("model-r")[2] > 0);
    assertEquals(prompt, sim.billedPromptTokens());
    assertEquals(completion, sim.billedCompletionTokens());
    assertEquals(prompt + completion, sim.billedTokens());
    assertEquals(61, sim.receivedCount("model-a"));
    assertEquals(60, sim.receivedCount("model-r"));
    assertEquals(121, sim.receivedCount());
    assertEquals(1, sim.statusCount("model-a", 400));
    assertEquals(121, sim.requestCount());
    assertTrue(sim.statusCount(429) > 0 && sim.statusCount(500) > 0);

    JsonNode stats = JSON.readTree(get(sim, "/sim/stats").body());
    assertEquals(prompt + completion, stats.at("/totals/billed_tokens/total").asLong());
    assertEquals(61, stats.at("/models/model-a/received").asLong());

    sim.reset();
    assertEquals(0, sim.billedTokens());
    assertEquals(0, sim.receivedCount("model-a"));
    assertEquals(0, sim.answersWithoutUsage());
  }

  // ---------------------------------------------------------------------------------------------
  // settings and command line

  @Test
  void settings_rejectBadNewValues_andCountThe429RateAmongTheFaultRates() {
    SimulatedEndpoint.Settings base = defaults();
    assertThrows(IllegalArgumentException.class, () -> base.withRate429(1.2));
    assertThrows(IllegalArgumentException.class, () -> base.withRate5xx(0.6).withRate429(0.5));
    assertThrows(IllegalArgumentException.class, () -> base.withRateNoUsage(-0.1));
    assertThrows(IllegalArgumentException.class, () -> base.withQueueSlots(-1));
    assertThrows(IllegalArgumentException.class,
        () -> base.withReasoningModels(List.of("m")).withThinkInlineModels(List.of("m")));
    assertThrows(IllegalArgumentException.class, () -> base.withReasoningModels(List.of(" ")));
    SimulatedEndpoint.Settings reasoning = base.withReasoningModels(List.of("deep"));
    assertTrue(reasoning.answersWithReasoning("deep"));
    assertTrue(reasoning.answersWithReasoning("Big-Reasoner"));
    assertFalse(reasoning.answersWithReasoning("chat"));
    assertFalse(base.withThinkInlineModels(List.of("x-reason")).answersWithReasoning("x-reason"));
    assertEquals(0, base.rate429());
    assertFalse(base.ignoreN());
  }

  @Test
  void commandLine_newFlagsBecomeSettings() {
    SimulatedEndpoint.Settings settings = SimulatedEndpointMain.parse(new String[] {
        "--ignore-n", "--rate-429=0.15", "--queue-slots=4", "--reasoning-models=a,b",
        "--think-inline-models=c", "--rate-no-usage=0.25"}, n -> null);
    assertTrue(settings.ignoreN());
    assertEquals(0.15, settings.rate429());
    assertEquals(4, settings.queueSlots());
    assertEquals(List.of("a", "b"), settings.reasoningModels());
    assertEquals(List.of("c"), settings.thinkInlineModels());
    assertEquals(0.25, settings.rateNoUsage());
    assertFalse(SimulatedEndpointMain.parse(new String[] {"--ignore-n=false"}, n -> null)
        .ignoreN());
    assertThrows(IllegalArgumentException.class,
        () -> SimulatedEndpointMain.parse(new String[] {"--ignore-n=maybe"}, n -> null));
    for (String flag : List.of("--ignore-n", "--rate-429=", "--queue-slots=",
        "--reasoning-models=", "--think-inline-models=", "--rate-no-usage=")) {
      assertTrue(SimulatedEndpointMain.USAGE.contains(flag), flag);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // helpers

  private static SimulatedEndpoint.Settings defaults() {
    return SimulatedEndpoint.Settings.defaults();
  }

  private SimulatedEndpoint start(SimulatedEndpoint.Settings settings) {
    SimulatedEndpoint sim = SimulatedEndpoint.start(settings);
    started.add(sim);
    return sim;
  }

  private static long tokens(String text) {
    return (text.length() + 3) / 4;
  }

  private static boolean between(long value, long low, long high) {
    return value >= low && value <= high;
  }

  private static HttpRequest request(SimulatedEndpoint sim, String body) {
    return HttpRequest.newBuilder(URI.create(sim.baseUrl() + "/chat/completions"))
        .header("Content-Type", "application/json")
        .timeout(Duration.ofSeconds(10))
        .POST(HttpRequest.BodyPublishers.ofString(body))
        .build();
  }

  private static HttpResponse<String> post(SimulatedEndpoint sim, Object body)
      throws IOException, InterruptedException {
    return CLIENT.send(request(sim, body.toString()), HttpResponse.BodyHandlers.ofString());
  }

  private static CompletableFuture<HttpResponse<String>> postAsync(
      SimulatedEndpoint sim, ObjectNode body) {
    return CLIENT.sendAsync(request(sim, body.toString()), HttpResponse.BodyHandlers.ofString());
  }

  private static HttpResponse<String> get(SimulatedEndpoint sim, String path)
      throws IOException, InterruptedException {
    return CLIENT.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + sim.port() + path)).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static String content(HttpResponse<String> response) throws IOException {
    assertEquals(200, response.statusCode(), response.body());
    return JSON.readTree(response.body()).at("/choices/0/message/content").asText();
  }

  private static List<Integer> statuses(SimulatedEndpoint sim) throws Exception {
    List<Integer> out = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      out.add(post(sim, chat("seeded", msg("user", "q" + i))).statusCode());
    }
    return out;
  }

  private static void awaitUntil(java.util.function.BooleanSupplier condition)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (!condition.getAsBoolean()) {
      assertTrue(System.nanoTime() < deadline, "the endpoint never got there");
      Thread.sleep(5);
    }
  }
}

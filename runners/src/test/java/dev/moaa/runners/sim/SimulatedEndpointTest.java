package dev.moaa.runners.sim;

import static dev.moaa.runners.sim.SimRequests.chat;
import static dev.moaa.runners.sim.SimRequests.msg;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class SimulatedEndpointTest {

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
  // answers

  @Test
  void normalAnswer_hasOpenAiShape_simulatedLabels_andUsageFromCharacterCounts() throws Exception {
    SimulatedEndpoint sim = start(defaults().withWordsPerAnswer(5));
    HttpResponse<String> response = post(sim, chat("model-a",
        msg("system", "Be brief."), msg("user", "What is a river?")));

    assertEquals(200, response.statusCode());
    assertEquals("application/json",
        response.headers().firstValue("Content-Type").orElse(""));
    JsonNode body = JSON.readTree(response.body());
    String content = body.at("/choices/0/message/content").asText();
    String sig = content.substring("[simulated model-a ".length(), content.indexOf(']'));
    assertEquals(10, sig.length());
    assertTrue(sig.matches("[0-9a-f]{10}"), sig);
    assertEquals("chatcmpl-sim-" + sig, body.get("id").asText());
    assertEquals("chat.completion", body.get("object").asText());
    assertEquals(1_700_000_000L, body.get("created").asLong());
    assertEquals("model-a", body.get("model").asText());
    assertEquals("moaa-simulated", body.get("system_fingerprint").asText());
    assertEquals(1, body.get("choices").size());
    assertEquals(0, body.at("/choices/0/index").asInt());
    assertEquals("assistant", body.at("/choices/0/message/role").asText());
    assertEquals("stop", body.at("/choices/0/finish_reason").asText());
    assertTrue(content.startsWith("[simulated model-a " + sig + "] "), content);
    String words = content.substring(content.indexOf(']') + 2, content.lastIndexOf(" \u27E8"));
    assertEquals(5, words.split(" ").length, content);
    assertTrue(content.matches(".* \u27E8quality=0\\.[0-9]{3}\u27E9"), content);

    long promptChars = "Be brief.".length() + "What is a river?".length();
    long prompt = (promptChars + 3) / 4;
    long completion = (content.length() + 3) / 4;
    assertEquals(prompt, body.at("/usage/prompt_tokens").asLong());
    assertEquals(completion, body.at("/usage/completion_tokens").asLong());
    assertEquals(prompt + completion, body.at("/usage/total_tokens").asLong());
  }

  @Test
  void sameConversationTwice_givesTheSameAnswer_whileAnotherModelGetsAnotherSignature()
      throws Exception {
    SimulatedEndpoint sim = start(defaults());
    String first = content(post(sim, chat("model-a", msg("user", "hello"))));
    String again = content(post(sim, chat("model-a", msg("user", "hello"))));
    String otherModel = content(post(sim, chat("model-b", msg("user", "hello"))));
    String otherText = content(post(sim, chat("model-a", msg("user", "hello!"))));

    assertEquals(first, again);
    assertNotEquals(signature(first), signature(otherModel));
    assertNotEquals(signature(first), signature(otherText));
    assertTrue(otherModel.startsWith("[simulated model-b "), otherModel);
  }

  @Test
  void signature_ignoresTheKeyOrderInsideMessages() throws Exception {
    SimulatedEndpoint sim = start(defaults());
    String ordered = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    String swapped = "{\"messages\":[{\"content\":\"hi\",\"role\":\"user\"}],\"model\":\"m\"}";
    assertEquals(content(post(sim, ordered)), content(post(sim, swapped)));
  }

  @Test
  void systemMessageQuotingTwoProposals_isAnsweredWithReferencesSeenTwo() throws Exception {
    SimulatedEndpoint sim = start(defaults().withWordsPerAnswer(3));
    String proposalA = content(post(sim, chat("model-a", msg("user", "Name a tree."))));
    String proposalB = content(post(sim, chat("model-b", msg("user", "Name a tree."))));
    assertFalse(proposalA.contains("references seen"), proposalA);

    String system = "Synthesize these responses:\n1. " + proposalA + "\n2. " + proposalB
        + "\n(again) " + proposalA;
    String aggregate = content(post(sim, chat("aggregator",
        msg("system", system), msg("user", "Name a tree."))));

    assertTrue(aggregate.startsWith("[simulated aggregator "), aggregate);
    assertTrue(aggregate.matches(".* \\(references seen: 2\\) \u27E8quality=0\\.[0-9]{3}\u27E9"),
        aggregate);
  }

  @Test
  void simulatedTagsOutsideSystemMessages_areNotCountedAsReferences() throws Exception {
    SimulatedEndpoint sim = start(defaults());
    String answer = content(post(sim, chat("model-a",
        msg("user", "Earlier you said [simulated model-b 0123456789] something."))));
    assertFalse(answer.contains("references seen"), answer);
  }

  @Test
  void maxTokensBelowTheAnswerLength_cutsTheContent_andReportsFinishReasonLength()
      throws Exception {
    SimulatedEndpoint sim = start(defaults().withWordsPerAnswer(40));
    ObjectNode request = chat("model-a", msg("user", "Tell me everything."));
    request.put("max_tokens", 5);
    JsonNode body = JSON.readTree(post(sim, request).body());

    String content = body.at("/choices/0/message/content").asText();
    assertEquals("length", body.at("/choices/0/finish_reason").asText());
    assertEquals(20, content.length());
    assertTrue(content.startsWith("[simulated model-a "), content);
    assertEquals(5, body.at("/usage/completion_tokens").asInt());

    request.put("max_tokens", 10_000);
    JsonNode roomy = JSON.readTree(post(sim, request).body());
    assertEquals("stop", roomy.at("/choices/0/finish_reason").asText());
  }

  @Test
  void nOfThree_givesThreeDistinctChoices_whoseFirstMatchesTheSingleAnswer_andSumsUsage()
      throws Exception {
    SimulatedEndpoint sim = start(defaults().withWordsPerAnswer(6));
    String single = content(post(sim, chat("model-a", msg("user", "Pick a colour."))));
    ObjectNode request = chat("model-a", msg("user", "Pick a colour."));
    request.put("n", 3);
    JsonNode body = JSON.readTree(post(sim, request).body());

    JsonNode choices = body.get("choices");
    assertEquals(3, choices.size());
    Set<String> contents = new HashSet<>();
    long completion = 0;
    for (int i = 0; i < 3; i++) {
      assertEquals(i, choices.get(i).get("index").asInt());
      String text = choices.get(i).at("/message/content").asText();
      contents.add(text);
      completion += (text.length() + 3) / 4;
    }
    assertEquals(3, contents.size());
    assertEquals(single, choices.get(0).at("/message/content").asText());
    assertEquals(completion, body.at("/usage/completion_tokens").asLong());
    assertEquals(body.at("/usage/prompt_tokens").asLong() + completion,
        body.at("/usage/total_tokens").asLong());
  }

  // ---------------------------------------------------------------------------------------------
  // concurrency cap

  @Test
  void givenCapOfTwo_thirdConcurrentRequestGets429WithRetryAfter() throws Exception {
    SimulatedEndpoint sim = start(defaults().withMaxInFlightPerModel(2).withLatencyMs(800));
    CompletableFuture<HttpResponse<String>> one =
        postAsync(sim, chat("capped", msg("user", "one")));
    CompletableFuture<HttpResponse<String>> two =
        postAsync(sim, chat("capped", msg("user", "two")));
    awaitInFlight(sim, "capped", 2);

    long before = System.nanoTime();
    HttpResponse<String> third = post(sim, chat("capped", msg("user", "three")));
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - before);

    assertEquals(429, third.statusCode());
    assertTrue(tookMs < 500, "the 429 must come before any latency, took " + tookMs + " ms");
    assertEquals("1", third.headers().firstValue("Retry-After").orElse(null));
    assertEquals("50", third.headers().firstValue("retry-after-ms").orElse(null));
    JsonNode error = JSON.readTree(third.body()).get("error");
    assertEquals("rate_limit_error", error.get("type").asText());
    assertEquals("rate_limit_exceeded", error.get("code").asText());

    assertEquals(200, one.get(5, TimeUnit.SECONDS).statusCode());
    assertEquals(200, two.get(5, TimeUnit.SECONDS).statusCode());
    assertEquals(2, sim.peakInFlight("capped"));
    assertEquals(1, sim.count429());
    assertEquals(0, sim.requests().stream()
        .filter(r -> r.status() == 429).findFirst().orElseThrow().attempt());
  }

  @Test
  void givenCapOfOne_anotherModelIsNotLimited_andTheSlotFreesOnceTheAnswerIsSent()
      throws Exception {
    SimulatedEndpoint sim = start(defaults().withMaxInFlightPerModel(1).withLatencyMs(400));
    CompletableFuture<HttpResponse<String>> busy =
        postAsync(sim, chat("model-a", msg("user", "slow")));
    awaitInFlight(sim, "model-a", 1);

    assertEquals(200, post(sim, chat("model-b", msg("user", "other model"))).statusCode());
    assertEquals(200, busy.get(5, TimeUnit.SECONDS).statusCode());
    assertEquals(200, post(sim, chat("model-a", msg("user", "next"))).statusCode());
    assertEquals(0, sim.count429());
  }

  @Test
  void withoutCap_twoHundredSlowRequestsAreServedConcurrently() throws Exception {
    SimulatedEndpoint sim = start(defaults().withLatencyMs(300));
    long before = System.nanoTime();
    List<CompletableFuture<HttpResponse<String>>> calls = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      calls.add(postAsync(sim, chat("wide", msg("user", "request " + i))));
    }
    for (CompletableFuture<HttpResponse<String>> call : calls) {
      assertEquals(200, call.get(10, TimeUnit.SECONDS).statusCode());
    }
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - before);

    assertTrue(tookMs < 5_000, "200 calls of 300 ms took " + tookMs + " ms");
    assertTrue(sim.peakInFlight("wide") >= 50, "peak " + sim.peakInFlight("wide"));
    assertEquals(200, sim.requestCount("wide"));
  }

  @Test
  void backToBackRequestsOnOneConnection_doNotWaitForDelayedAcks() throws Exception {
    SimulatedEndpoint sim = start(defaults());
    post(sim, chat("warm-up", msg("user", "warm up")));
    long before = System.nanoTime();
    for (int i = 0; i < 60; i++) {
      assertEquals(200, post(sim, chat("quick", msg("user", "call " + i))).statusCode());
    }
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - before);
    assertTrue(tookMs < 2_000, "60 sequential zero-latency calls took " + tookMs
        + " ms; was an HttpServer started before sun.net.httpserver.nodelay was set?");
  }

  // ---------------------------------------------------------------------------------------------
  // faults

  @Test
  void rate5xxOfThirtyPercent_failsRoughlyThirtyPercentOfFourHundredDistinctRequests()
      throws Exception {
    SimulatedEndpoint sim = start(defaults().withRate5xx(0.3).withSeed(7));
    int failures = 0;
    Set<Integer> statuses = new HashSet<>();
    for (int i = 0; i < 400; i++) {
      HttpResponse<String> response = post(sim, chat("faulty", msg("user", "question " + i)));
      if (response.statusCode() != 200) {
        failures++;
        statuses.add(response.statusCode());
        assertEquals("server_error", JSON.readTree(response.body()).at("/error/type").asText());
      }
    }
    assertTrue(failures >= 80 && failures <= 160, "failures: " + failures);
    assertTrue(Set.of(500, 502, 503).containsAll(statuses), statuses.toString());
    assertTrue(statuses.contains(500), statuses.toString());
  }

  @Test
  void retriedIdenticalRequest_eventuallySucceeds_withAttemptsNumberedInTheLog()
      throws Exception {
    SimulatedEndpoint sim = start(defaults().withRate5xx(0.7).withSeed(3));
    ObjectNode request = chat("flaky", msg("user", "please work"));
    int tries = 0;
    int status;
    do {
      status = post(sim, request).statusCode();
      tries++;
    } while (status != 200 && tries < 60);

    assertEquals(200, status, "no success after " + tries + " identical attempts");
    List<RecordedRequest> log = sim.requests();
    assertEquals(tries, log.size());
    for (int i = 0; i < tries; i++) {
      assertEquals(i + 1, log.get(i).attempt());
    }
  }

  @Test
  void faultDecisions_repeatForTheSameSeed_andChangeWithAnotherSeed() throws Exception {
    List<Integer> first = statuses(start(defaults().withRate5xx(0.5).withSeed(11)));
    List<Integer> second = statuses(start(defaults().withRate5xx(0.5).withSeed(11)));
    List<Integer> otherSeed = statuses(start(defaults().withRate5xx(0.5).withSeed(12)));
    assertEquals(first, second);
    assertNotEquals(first, otherSeed);
  }

  @Test
  void malformedFault_answers200WithABodyThatIsNotJson() throws Exception {
    SimulatedEndpoint sim = start(defaults().withRateMalformed(1.0));
    HttpResponse<String> response = post(sim, chat("model-a", msg("user", "hi")));
    assertEquals(200, response.statusCode());
    assertTrue(response.body().startsWith("{\"id\": \"chatcmpl-"), response.body());
    assertThrows(IOException.class, () -> JSON.readTree(response.body()));
  }

  @Test
  void emptyFault_answers200WithEmptyContent() throws Exception {
    SimulatedEndpoint sim = start(defaults().withRateEmpty(1.0));
    JsonNode body = JSON.readTree(post(sim, chat("model-a", msg("user", "hi"))).body());
    assertEquals("", body.at("/choices/0/message/content").asText());
    assertEquals(0, body.at("/usage/completion_tokens").asInt());
  }

  @Test
  void timeoutFault_stallsPastAnImpatientClient_butAnswersAPatientOneNormally()
      throws Exception {
    SimulatedEndpoint sim = start(defaults().withRateTimeout(1.0).withTimeoutDelayMs(400));
    HttpRequest impatient = request(sim, chat("model-a", msg("user", "first")).toString())
        .timeout(Duration.ofMillis(100)).build();
    assertThrows(HttpTimeoutException.class,
        () -> CLIENT.send(impatient, HttpResponse.BodyHandlers.ofString()));

    long before = System.nanoTime();
    HttpResponse<String> patient = post(sim, chat("model-a", msg("user", "second")));
    long tookMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - before);
    assertEquals(200, patient.statusCode());
    assertTrue(tookMs >= 380, "answered after " + tookMs + " ms");
    assertTrue(content(patient).startsWith("[simulated model-a "));
  }

  @Test
  void userMessageWithAlwaysFailMarker_isAnswered500OnEveryAttempt() throws Exception {
    SimulatedEndpoint sim = start(defaults());
    ObjectNode request = chat("model-a", msg("user", "trigger SIM_ALWAYS_FAIL here"));
    for (int i = 0; i < 5; i++) {
      HttpResponse<String> response = post(sim, request);
      assertEquals(500, response.statusCode());
      assertEquals("server_error", JSON.readTree(response.body()).at("/error/type").asText());
    }
  }

  @Test
  void jitter_staysWithinItsBound_andRepeatsForTheSameAttempt() {
    FaultPlan plan = new FaultPlan(defaults().withLatencyMs(100).withLatencyJitterMs(50));
    Set<Long> seen = new HashSet<>();
    for (int i = 0; i < 200; i++) {
      long latency = plan.latencyMs("body-" + i, 1);
      assertTrue(latency >= 100 && latency <= 150, "latency " + latency);
      assertEquals(latency, plan.latencyMs("body-" + i, 1));
      seen.add(latency);
    }
    assertTrue(seen.size() > 10, "jitter should spread: " + seen);
  }

  // ---------------------------------------------------------------------------------------------
  // API key

  @Test
  void requiredKey_missingOrWrongGets401WithoutEchoingAnyKey_rightKeyGets200()
      throws Exception {
    String key = "sk-sim-secret-123";
    SimulatedEndpoint sim = start(defaults().withRequiredApiKey(key));
    String body = chat("model-a", msg("user", "hi")).toString();

    HttpResponse<String> missing = send(request(sim, body).build());
    HttpResponse<String> wrong =
        send(request(sim, body).header("Authorization", "Bearer sk-wrong-guess").build());
    HttpResponse<String> right =
        send(request(sim, body).header("Authorization", "Bearer " + key).build());

    assertEquals(401, missing.statusCode());
    assertEquals(401, wrong.statusCode());
    assertEquals("invalid_api_key", JSON.readTree(wrong.body()).at("/error/code").asText());
    assertFalse(missing.body().contains(key));
    assertFalse(wrong.body().contains(key));
    assertFalse(wrong.body().contains("sk-wrong-guess"));
    assertEquals(200, right.statusCode());

    List<RecordedRequest> log = sim.requests();
    assertEquals(List.of(false, false, true),
        log.stream().map(RecordedRequest::authorized).toList());
    assertEquals(List.of(401, 401, 200), log.stream().map(RecordedRequest::status).toList());
    assertFalse(log.toString().contains(key));
    assertFalse(sim.settings().toString().contains(key));
  }

  // ---------------------------------------------------------------------------------------------
  // other routes, validation, observability

  @Test
  void modelsList_holdsConfiguredAndRequestedModels_ownedByMoaaSimulated() throws Exception {
    SimulatedEndpoint sim = start(defaults().withModels(List.of("listed-model")));
    post(sim, chat("requested-model", msg("user", "hi")));
    HttpResponse<String> response = get(sim, "/v1/models");

    assertEquals(200, response.statusCode());
    JsonNode body = JSON.readTree(response.body());
    assertEquals("list", body.get("object").asText());
    List<String> ids = new ArrayList<>();
    for (JsonNode model : body.get("data")) {
      ids.add(model.get("id").asText());
      assertEquals("model", model.get("object").asText());
      assertEquals("moaa-simulated", model.get("owned_by").asText());
    }
    assertEquals(List.of("listed-model", "requested-model"), ids);
  }

  @Test
  void statsRoute_countsRequestsStatusesAndPeakPerModelAndInTotal() throws Exception {
    SimulatedEndpoint sim = start(defaults());
    post(sim, chat("model-a", msg("user", "one")));
    post(sim, chat("model-a", msg("user", "two")));
    post(sim, chat("model-b", msg("user", "SIM_ALWAYS_FAIL")));
    HttpResponse<String> response = get(sim, "/sim/stats");

    assertEquals(200, response.statusCode());
    JsonNode stats = JSON.readTree(response.body());
    assertTrue(stats.get("simulated").asBoolean());
    assertEquals(2, stats.at("/models/model-a/requests").asInt());
    assertEquals(2, stats.at("/models/model-a/ok").asInt());
    assertEquals(2, stats.at("/models/model-a/status/200").asInt());
    assertEquals(1, stats.at("/models/model-a/peak_in_flight").asInt());
    assertEquals(1, stats.at("/models/model-b/status/500").asInt());
    assertEquals(1, stats.at("/models/model-b/server_errors_5xx").asInt());
    assertEquals(1, stats.at("/models/model-b/injected_faults/poison").asInt());
    assertEquals(3, stats.at("/totals/requests").asInt());
    assertEquals(2, stats.at("/totals/ok").asInt());
    assertEquals(0, stats.at("/totals/rate_limited_429").asInt());
  }

  @Test
  void requestLog_keepsModelMessagesAndOtherParamsInArrivalOrder_untilReset() throws Exception {
    SimulatedEndpoint sim = start(defaults());
    ObjectNode first = chat("model-a", msg("system", "rules"), msg("user", "question"));
    first.put("temperature", 0.25);
    first.putObject("metadata").put("trace", "t-1");
    post(sim, first);
    post(sim, chat("model-b", msg("user", "second")));

    List<RecordedRequest> log = sim.requests();
    assertEquals(2, log.size());
    RecordedRequest recorded = log.get(0);
    assertEquals("model-a", recorded.model());
    assertEquals(List.of(new RecordedRequest.Message("system", "rules"),
        new RecordedRequest.Message("user", "question")), recorded.messages());
    assertEquals(0.25, recorded.params().get("temperature"));
    assertEquals(Map.of("trace", "t-1"), recorded.params().get("metadata"));
    assertFalse(recorded.params().containsKey("model"));
    assertFalse(recorded.params().containsKey("messages"));
    assertTrue(recorded.authorized());
    assertEquals(200, recorded.status());
    assertEquals(1, recorded.attempt());
    assertTrue(log.get(0).order() < log.get(1).order());
    assertThrows(UnsupportedOperationException.class, () -> recorded.params().put("x", 1));
    assertThrows(UnsupportedOperationException.class, () -> log.add(recorded));
    assertEquals(2, sim.requestCount());
    assertEquals(1, sim.requestCount("model-b"));

    sim.reset();
    assertEquals(List.of(), sim.requests());
    assertEquals(0, sim.requestCount());
    assertEquals(0, sim.requestCount("model-a"));
    assertEquals(0, sim.peakInFlight("model-a"));
    post(sim, first);
    assertEquals(1, sim.requests().get(0).attempt(), "attempt numbers restart after reset");
  }

  @Test
  void invalidRequests_get400_unknownPaths404_andWrongMethods405() throws Exception {
    SimulatedEndpoint sim = start(defaults());
    assertEquals(400, post(sim, "{not json").statusCode());
    assertEquals(400, post(sim, "[]").statusCode());
    HttpResponse<String> noModel =
        post(sim, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assertEquals(400, noModel.statusCode());
    assertEquals("model", JSON.readTree(noModel.body()).at("/error/param").asText());
    assertEquals(400, post(sim, "{\"model\":\"m\",\"messages\":[]}").statusCode());
    assertEquals(400, post(sim, "{\"model\":\"m\"}").statusCode());
    ObjectNode badN = chat("m", msg("user", "hi"));
    badN.put("n", 0);
    assertEquals(400, post(sim, badN).statusCode());

    assertEquals(404, get(sim, "/v1/embeddings").statusCode());
    HttpResponse<String> getChat = get(sim, "/v1/chat/completions");
    assertEquals(405, getChat.statusCode());
    assertEquals("POST", getChat.headers().firstValue("Allow").orElse(null));
    HttpResponse<String> postModels = send(HttpRequest.newBuilder(uri(sim, "/v1/models"))
        .POST(HttpRequest.BodyPublishers.ofString("{}")).build());
    assertEquals(405, postModels.statusCode());
    assertEquals(0, sim.requests().stream().filter(r -> r.status() != 400).count());
  }

  @Test
  void settings_rejectOutOfRangeValues_andWithCopiesLeaveTheOriginalUnchanged() {
    SimulatedEndpoint.Settings base = defaults();
    SimulatedEndpoint.Settings changed = base.withLatencyMs(25).withSeed(9);
    assertEquals(0, base.latencyMs());
    assertEquals(25, changed.latencyMs());
    assertEquals(9, changed.seed());
    assertThrows(IllegalArgumentException.class, () -> base.withRate5xx(1.5));
    assertThrows(IllegalArgumentException.class,
        () -> base.withRate5xx(0.6).withRateTimeout(0.6));
    assertThrows(IllegalArgumentException.class, () -> base.withMaxInFlightPerModel(-1));
    assertThrows(IllegalArgumentException.class, () -> base.withRequiredApiKey(" "));
  }

  @Test
  void baseUrl_pointsAtLoopbackV1() {
    SimulatedEndpoint sim = start(defaults());
    assertEquals("http://127.0.0.1:" + sim.port() + "/v1", sim.baseUrl());
    assertTrue(sim.port() > 0);
  }

  // ---------------------------------------------------------------------------------------------
  // command line

  @Test
  void commandLine_unknownFlagIsAUsageErrorWithExitCode2() {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = SimulatedEndpointMain.run(new String[] {"--port=0", "--colour=blue"},
        new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true));
    assertEquals(2, code);
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("unknown flag --colour"));

    assertEquals(2, SimulatedEndpointMain.run(new String[] {"--latency-ms=slow"},
        new PrintStream(new ByteArrayOutputStream()),
        new PrintStream(new ByteArrayOutputStream())));
    assertEquals(2, SimulatedEndpointMain.run(new String[] {"--seed"},
        new PrintStream(new ByteArrayOutputStream()),
        new PrintStream(new ByteArrayOutputStream())));
  }

  @Test
  void commandLine_flagsBecomeSettings_andTheKeyComesFromTheNamedVariable() {
    SimulatedEndpoint.Settings settings = SimulatedEndpointMain.parse(new String[] {
        "--port=0", "--latency-ms=5", "--jitter-ms=3", "--max-in-flight=4",
        "--rate-5xx=0.1", "--rate-timeout=0.2", "--rate-malformed=0.05", "--rate-empty=0.05",
        "--timeout-delay-ms=900", "--seed=42", "--words=7", "--retry-after-ms=80",
        "--models=a,b", "--require-key-env=SIM_KEY"},
        name -> name.equals("SIM_KEY") ? "sk-from-env" : null);
    assertEquals(0, settings.port());
    assertEquals(5, settings.latencyMs());
    assertEquals(3, settings.latencyJitterMs());
    assertEquals(4, settings.maxInFlightPerModel());
    assertEquals(0.1, settings.rate5xx());
    assertEquals(0.2, settings.rateTimeout());
    assertEquals(0.05, settings.rateMalformed());
    assertEquals(0.05, settings.rateEmpty());
    assertEquals(900, settings.timeoutDelayMs());
    assertEquals(42, settings.seed());
    assertEquals(7, settings.wordsPerAnswer());
    assertEquals(80, settings.retryAfterMs());
    assertEquals(List.of("a", "b"), settings.models());
    assertEquals("sk-from-env", settings.requiredApiKey());

    SimulatedEndpoint.Settings defaults = SimulatedEndpointMain.parse(new String[0], n -> null);
    assertEquals(8089, defaults.port());
    assertEquals(200, defaults.latencyMs());
    assertEquals(32, defaults.maxInFlightPerModel());

    IllegalArgumentException unset = assertThrows(IllegalArgumentException.class,
        () -> SimulatedEndpointMain.parse(new String[] {"--require-key-env=NOPE"}, n -> null));
    assertTrue(unset.getMessage().contains("NOPE"));
  }

  @Test
  void commandLine_printsTheSimulatedBanner_andServesUntilClosed() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    AtomicReference<SimulatedEndpoint> running = new AtomicReference<>();
    CountDownLatch up = new CountDownLatch(1);
    CompletableFuture<Integer> exit = CompletableFuture.supplyAsync(() ->
        SimulatedEndpointMain.run(new String[] {"--port=0", "--latency-ms=0"},
            new PrintStream(out, true), new PrintStream(new ByteArrayOutputStream()),
            name -> null, endpoint -> {
              running.set(endpoint);
              up.countDown();
            }));
    assertTrue(up.await(5, TimeUnit.SECONDS));
    SimulatedEndpoint sim = running.get();
    started.add(sim);

    String banner = out.toString(StandardCharsets.UTF_8).trim();
    assertEquals("MoAA SIMULATED OpenAI-compatible endpoint (no real model) listening on "
        + sim.baseUrl(), banner);
    assertEquals(200, post(sim, chat("cli-model", msg("user", "hi"))).statusCode());
    assertFalse(exit.isDone());
    sim.close();
    assertEquals(0, exit.get(5, TimeUnit.SECONDS));
  }

  @Test
  void commandLine_helpPrintsUsageAndExitsZero() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    assertEquals(0, SimulatedEndpointMain.run(new String[] {"--help"}, new PrintStream(out, true)));
    assertTrue(out.toString(StandardCharsets.UTF_8).contains("SIMULATED"));
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



  private static URI uri(SimulatedEndpoint sim, String path) {
    return URI.create("http://127.0.0.1:" + sim.port() + path);
  }

  private static HttpRequest.Builder request(SimulatedEndpoint sim, String body) {
    return HttpRequest.newBuilder(URI.create(sim.baseUrl() + "/chat/completions"))
        .header("Content-Type", "application/json")
        .timeout(Duration.ofSeconds(10))
        .POST(HttpRequest.BodyPublishers.ofString(body));
  }

  private static HttpResponse<String> post(SimulatedEndpoint sim, Object body)
      throws IOException, InterruptedException {
    return send(request(sim, body.toString()).build());
  }

  private static CompletableFuture<HttpResponse<String>> postAsync(
      SimulatedEndpoint sim, ObjectNode body) {
    return CLIENT.sendAsync(request(sim, body.toString()).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private static HttpResponse<String> get(SimulatedEndpoint sim, String path)
      throws IOException, InterruptedException {
    return send(HttpRequest.newBuilder(uri(sim, path)).GET().build());
  }

  private static HttpResponse<String> send(HttpRequest request)
      throws IOException, InterruptedException {
    return CLIENT.send(request, HttpResponse.BodyHandlers.ofString());
  }

  private static String content(HttpResponse<String> response) throws IOException {
    assertEquals(200, response.statusCode(), response.body());
    return JSON.readTree(response.body()).at("/choices/0/message/content").asText();
  }

  private static String signature(String content) {
    return content.substring(content.lastIndexOf(' ', content.indexOf(']')) + 1,
        content.indexOf(']'));
  }

  private static void awaitInFlight(SimulatedEndpoint sim, String model, int count)
      throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
    while (sim.inFlight(model) < count) {
      assertTrue(System.nanoTime() < deadline, "requests never got in flight");
      Thread.sleep(5);
    }
  }

  private static List<Integer> statuses(SimulatedEndpoint sim) throws Exception {
    List<Integer> out = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      out.add(post(sim, chat("seeded", msg("user", "q" + i))).statusCode());
    }
    return out;
  }

  @Test
  void theSteadyRate_comesFromExactArrivalTimes_evenWhenARunLastsMilliseconds() {
    // 101 arrivals 100 microseconds apart: 10 ms in all, well inside any coarse time slot
    long[] t = new long[101];
    for (int i = 0; i < t.length; i++) {
      t[i] = 1_000_000_000L + i * 100_000L;
    }
    assertEquals(10_000, SimulatedEndpoint.steadyRate(t, 0.1, 0.9), 1e-6);
    assertEquals(0, SimulatedEndpoint.steadyRate(new long[9], 0.1, 0.9), "too few to tell");
    assertEquals(0, SimulatedEndpoint.steadyRate(new long[50], 0.1, 0.9), "all at once: no rate");
  }
}

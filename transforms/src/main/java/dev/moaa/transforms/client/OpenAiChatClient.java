package dev.moaa.transforms.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moaa.transforms.budget.CallLedger;
import com.google.api.client.http.ByteArrayContent;
import com.google.api.client.http.GenericUrl;
import com.google.api.client.http.HttpRequest;
import com.google.api.client.http.HttpRequestFactory;
import com.google.api.client.http.HttpResponse;
import com.google.api.client.http.HttpTransport;
import com.google.api.client.http.apache.v2.ApacheHttpTransport;
import dev.moaa.schemas.Message;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client for {@code POST {base_url}/chat/completions} on google-http-client with a pooled Apache
 * transport, so that many calls can be in flight at once. It retries 5xx, timeouts, connection
 * errors and unreadable or empty answers with exponential backoff and jitter, up to the policy's
 * attempts; a 429 waits (honouring {@code retry-after-ms} and {@code Retry-After}) within the
 * policy's total rate-limit wait instead; other 4xx, and an answer whose whole completion budget
 * went to reasoning, fail at once. Reasoning is read from {@code reasoning_content} or {@code
 * reasoning} and from think blocks in the content, which are taken out of the answer. Every answer
 * that arrives is billed into the call's usage, unusable ones included. The answer or failure
 * says how many attempts it took, how many of them were answered 429, and when the call started
 * and ended (wall clock). The API key goes only
 * into the Authorization header and is redacted from every message it produces.
 */
public final class OpenAiChatClient implements ChatClient {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Logger LOG = LoggerFactory.getLogger(OpenAiChatClient.class);
  private static final int ERROR_BODY_CHARS = 500;

  /** Sleeps between attempts; replaceable in tests. */
  public interface Sleeper {
    void sleep(long ms) throws InterruptedException;
  }

  private final ModelEndpoint endpoint;
  private final String apiKey;
  private final HttpTransport transport;
  private final HttpRequestFactory requests;
  private final GenericUrl url;
  private final Sleeper sleeper;
  private final RequestGate gate;
  private final ClusterGate cluster;
  private final AtomicBoolean nIgnoredSaid = new AtomicBoolean();
  /** The run's ledger of every request (null: the run keeps none), released by {@link #close}. */
  private final CallLedger ledger;

  private OpenAiChatClient(ModelEndpoint endpoint, String apiKey, Sleeper sleeper, ClusterGate cluster) {
    this.endpoint = endpoint;
    this.gate = new RequestGate(endpoint.maxConcurrency(), endpoint.rateLimits());
    this.cluster = cluster;
    this.apiKey = apiKey;
    int pool = Math.max(8, endpoint.maxConcurrency() * 2);
    this.transport = new ApacheHttpTransport(
        ApacheHttpTransport.newDefaultHttpClientBuilder()
            .setMaxConnTotal(pool)
            .setMaxConnPerRoute(pool)
            .build());
    this.requests = transport.createRequestFactory();
    this.url = new GenericUrl(endpoint.baseUrl() + "/chat/completions");
    this.sleeper = sleeper;
    this.ledger = CallLedger.acquire(endpoint.budget());
  }

  /**
   * Builds a transport as a client does and shuts it down: the first one of a JVM loads the HTTP
   * client's classes and the default TLS context (the JDK's trust store), about 0.3 s here, which a
   * run would otherwise spend when its first model-calling step starts, just before its first call.
   * A run calls this on a spare thread while it prepares (it opens no connection).
   */
  public static void warmUp() {
    HttpTransport t = new ApacheHttpTransport(ApacheHttpTransport.newDefaultHttpClientBuilder().build());
    try {
      t.createRequestFactory();
      t.shutdown();
    } catch (IOException ignored) {
      // nothing was opened
    }
  }

  /** A client for {@code endpoint}, with the key read from its environment variable now. */
  public static OpenAiChatClient create(ModelEndpoint endpoint) throws ChatException {
    return new OpenAiChatClient(endpoint, endpoint.resolveApiKey(), Thread::sleep, null);
  }

  /**
   * A client for {@code endpoint} whose every attempt also passes {@code cluster} (null: this JVM's
   * limits only), with the key read from its environment variable now.
   */
  public static OpenAiChatClient create(ModelEndpoint endpoint, ClusterGate cluster) throws ChatException {
    return new OpenAiChatClient(endpoint, endpoint.resolveApiKey(), Thread::sleep, cluster);
  }

  /** For tests: an explicit key (may be null) and sleeper. */
  public static OpenAiChatClient create(ModelEndpoint endpoint, String apiKey, Sleeper sleeper) {
    return new OpenAiChatClient(endpoint, apiKey, sleeper, null);
  }

  /** For tests: an explicit key (may be null), sleeper and cluster gate (may be null). */
  public static OpenAiChatClient create(ModelEndpoint endpoint, String apiKey, Sleeper sleeper, ClusterGate cluster) {
    return new OpenAiChatClient(endpoint, apiKey, sleeper, cluster);
  }

  public ModelEndpoint endpoint() {
    return endpoint;
  }

  /** The admission gate of this client: its concurrency limit and what it has seen. */
  public RequestGate.Stats gateStats() {
    return gate.stats();
  }

  @Override
  public ChatResponse complete(ChatRequest request) throws ChatException {
    return complete(request, r -> { });
  }

  @Override
  public ChatResponse complete(ChatRequest request, java.util.function.Consumer<ChatResponse> arrived)
      throws ChatException {
    if (request.n() <= 1) {
      return completeOne(request, arrived);
    }
    ChatResponse first = completeOne(request, null);
    ChatResponse all = first.choices().size() >= request.n() ? first : fillChoices(request, first);
    arrived.accept(all);
    return all;
  }

  private void exitCluster(ClusterGate.Ticket ticket, RequestGate.Result result, long used, long retryAfterMs) {
    if (ticket != null) {
      cluster.exit(ticket, result, used, retryAfterMs);
    }
  }

  /**
   * A server that ignores {@code n} (many do) answers one choice: the rest are asked for one by
   * one, each with a seed of its own ({@code seed + i}), and joined to the first answer; what every
   * request cost is added up. Said once per model.
   */
  private ChatResponse fillChoices(ChatRequest request, ChatResponse first) throws ChatException {
    if (!nIgnoredSaid.getAndSet(true)) {
      LOG.warn("model {} answered {} choice(s) where n={} was asked: the server ignores n, so the other choices "
          + "are asked for one request each, with their own seeds", endpoint.name(), first.choices().size(),
          request.n());
    }
    List<String> choices = new ArrayList<>(first.choices());
    Usage billed = first.usage();
    int attempts = first.attempts();
    int rateLimited = first.rateLimited();
    Long base = request.seed() != null ? request.seed() : endpoint.seed();
    long seed0 = base == null ? 0 : base;
    for (int i = choices.size(); i < request.n(); i++) {
      ChatResponse r;
      try {
        r = completeOne(new ChatRequest(request.messages(), seed0 + i, 1), null);
      } catch (ChatException e) {
        // the choices gathered so far stand; what the failed request cost is still counted
        billed = billed.plus(e.usage());
        attempts += e.attempts();
        rateLimited += e.rateLimited();
        break;
      }
      choices.add(r.content());
      billed = billed.plus(r.usage());
      attempts += r.attempts();
      rateLimited += r.rateLimited();
    }
    long now = System.currentTimeMillis();
    return new ChatResponse(first.content(), first.finishReason(), billed.promptTokens(), billed.completionTokens(),
        attempts, now - first.startedAtMs(), attempts - 1, choices, rateLimited, first.startedAtMs(), now,
        first.reasoning(), billed.reasoningTokens(), billed.estimated());
  }

  /**
   * One request with its retries. A 429 waits (the server's Retry-After, else backoff) and is
   * bounded by the policy's total rate-limit wait; every other fault counts towards {@code
   * max_attempts}. Every attempt that the server answered is billed, whatever became of it.
   */
  private ChatResponse completeOne(ChatRequest request, java.util.function.Consumer<ChatResponse> arrived)
      throws ChatException {
    byte[] body = requestBody(endpoint, request);
    RetryPolicy policy = endpoint.retry();
    long start = System.nanoTime();
    long startedAtMs = System.currentTimeMillis();
    int rateLimited = 0;
    int faults = 0;
    long waitedForRateLimits = 0;
    Usage billed = Usage.NONE;
    long estimate = TokenEstimate.promptTokens(request) + TokenEstimate.completionTokens(endpoint, request, 0);
    for (int attempt = 1; ; attempt++) {
      RequestGate.Permit permit;
      try {
        permit = gate.acquire(estimate);
      } catch (InterruptedException ie) {
        Thread.currentThread().interrupt();
        throw new ChatException(ErrorKind.CONNECTION, 0, -1, attempt - 1, "interrupted while waiting to send")
            .withAttempts(attempt - 1, rateLimited).withTimes(startedAtMs, System.currentTimeMillis())
            .withUsage(billed);
      }
      ClusterGate.Ticket ticket = null;
      if (cluster != null) {
        try {
          ticket = cluster.enter(estimate);
          gate.sending(permit); // the wait for the cluster's slot is not the server's latency
        } catch (ChatException e) {
          gate.release(permit, RequestGate.Result.OTHER_FAILURE, -1, -1);
          throw e.withAttempts(attempt - 1, rateLimited).withTimes(startedAtMs, System.currentTimeMillis())
              .withUsage(billed);
        } catch (InterruptedException ie) {
          gate.release(permit, RequestGate.Result.OTHER_FAILURE, -1, -1);
          Thread.currentThread().interrupt();
          throw new ChatException(ErrorKind.CONNECTION, 0, -1, attempt - 1, "interrupted while waiting to send")
              .withAttempts(attempt - 1, rateLimited).withTimes(startedAtMs, System.currentTimeMillis())
              .withUsage(billed);
        } catch (RuntimeException | Error e) {
          // the permit goes back whatever went wrong: a permit kept by a call that ended holds
          // every later request of this model in this JVM (a restarted job's calls waited for ever)
          gate.release(permit, RequestGate.Result.OTHER_FAILURE, -1, -1);
          throw e;
        }
      }
      if (stopped) {
        // the last worker let go of this model: what was not sent yet is not sent
        gate.release(permit, RequestGate.Result.OTHER_FAILURE, -1, -1);
        exitCluster(ticket, RequestGate.Result.OTHER_FAILURE, -1, -1);
        throw new ChatException(ErrorKind.CONNECTION, 0, -1, attempt - 1,
            "not sent: the worker stopped (a restart or the end of the run)")
            .withAttempts(attempt - 1, rateLimited).withTimes(startedAtMs, System.currentTimeMillis())
            .withUsage(billed);
      }
      try {
        ParsedAnswer a;
        try {
          a = attemptOnce(body, request, CallLedger.CALL);
        } catch (ChatException e) {
          // a timeout says the server is saturated: it cuts the limit, so the retry goes at a lower concurrency
          RequestGate.Result r = e.kind() == ErrorKind.RATE_LIMITED ? RequestGate.Result.RATE_LIMITED
              : e.kind() == ErrorKind.TIMEOUT ? RequestGate.Result.TIMEOUT : RequestGate.Result.OTHER_FAILURE;
          long used = e.usage().total() > 0 ? e.usage().total() : -1;
          gate.release(permit, r, used, e.retryAfterMs());
          exitCluster(ticket, r, used, e.retryAfterMs());
          throw e;
        } catch (RuntimeException | Error e) {
          gate.release(permit, RequestGate.Result.OTHER_FAILURE, -1, -1);
          exitCluster(ticket, RequestGate.Result.OTHER_FAILURE, -1, -1);
          throw e;
        }
        billed = billed.plus(a.usage);
        gate.release(permit, RequestGate.Result.SUCCESS, a.usage.total(), -1);
        long latency = (System.nanoTime() - start) / 1_000_000;
        ChatResponse answer = new ChatResponse(a.choices.get(0), a.finishReason, billed.promptTokens(),
            billed.completionTokens(), attempt, latency, attempt - 1, a.choices, rateLimited, startedAtMs,
            startedAtMs + latency, a.reasoning, billed.reasoningTokens(), billed.estimated());
        try {
          if (arrived != null) {
            arrived.accept(answer); // stored before the cluster's slot goes back (Redis round trips)
          }
        } finally {
          exitCluster(ticket, RequestGate.Result.SUCCESS, a.usage.total(), -1);
        }
        return answer;
      } catch (ChatException e) {
        billed = billed.plus(e.usage());
        long wait;
        if (e.kind() == ErrorKind.RATE_LIMITED) {
          rateLimited++;
          wait = policy.backoffMs(Math.min(rateLimited, 30), e.retryAfterMs());
          if (waitedForRateLimits + wait > policy.maxRateLimitWaitMs()) {
            throw e.withAttempts(attempt, rateLimited).withTimes(startedAtMs, System.currentTimeMillis())
                .withUsage(billed);
          }
          waitedForRateLimits += wait;
        } else {
          faults++;
          if (!e.kind().retryable() || faults >= policy.maxAttempts()) {
            throw e.withAttempts(attempt, rateLimited).withTimes(startedAtMs, System.currentTimeMillis())
                .withUsage(billed);
          }
          wait = policy.backoffMs(faults, e.retryAfterMs());
        }
        try {
          sleeper.sleep(wait);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw new ChatException(ErrorKind.CONNECTION, 0, -1, attempt, "interrupted while backing off")
              .withAttempts(attempt, rateLimited).withTimes(startedAtMs, System.currentTimeMillis())
              .withUsage(billed);
        }
      }
    }
  }

  /** What one probe request found: the HTTP status (0 when no answer came), a short detail, its cost. */
  public record Probe(int status, ErrorKind failure, String detail, Usage usage) {
    public boolean ok() {
      return failure == null;
    }
  }

  /**
   * Sends {@code request} once to learn whether the endpoint is there, accepts the key and serves
   * the model. Any answer with status 2xx counts as reachable, even an unusable one (a probe asks
   * for one token); 429, 5xx and timeouts are tried up to three times. Never throws.
   */
  public Probe probe(ChatRequest request) {
    byte[] body = requestBody(endpoint, request);
    Usage billed = Usage.NONE;
    ChatException last = null;
    for (int attempt = 1; attempt <= 3; attempt++) {
      try {
        ParsedAnswer a = attemptOnce(body, request, CallLedger.PROBE);
        return new Probe(200, null, "ok", billed.plus(a.usage));
      } catch (ChatException e) {
        billed = billed.plus(e.usage());
        if (e.httpStatus() >= 200 && e.httpStatus() < 300) {
          return new Probe(e.httpStatus(), null, "ok (" + e.kind().wireName() + ")", billed);
        }
        last = e;
        boolean again = e.kind() == ErrorKind.RATE_LIMITED || e.kind() == ErrorKind.SERVER_ERROR
            || e.kind() == ErrorKind.TIMEOUT;
        if (!again || attempt == 3) {
          break;
        }
        try {
          sleeper.sleep(Math.max(250L * attempt, Math.min(e.retryAfterMs(), 5_000)));
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          break;
        }
      }
    }
    return new Probe(last.httpStatus(), last.kind(), last.getMessage(), billed);
  }

  /** The JSON body for {@code request}; also what a call's hash is computed over. */
  public static byte[] requestBody(ModelEndpoint endpoint, ChatRequest request) {
    ObjectNode root = JSON.createObjectNode();
    root.put("model", endpoint.modelId());
    ArrayNode messages = root.putArray("messages");
    for (Message m : request.messages()) {
      messages.addObject().put("role", m.getRole()).put("content", m.getContent());
    }
    if (endpoint.temperature() != null) {
      root.put("temperature", endpoint.temperature());
    }
    if (endpoint.topP() != null) {
      root.put("top_p", endpoint.topP());
    }
    if (request.n() > 1) {
      root.put("n", request.n());
    }
    if (endpoint.maxTokens() != null) {
      root.put("max_tokens", endpoint.maxTokens());
    }
    if (endpoint.maxCompletionTokens() != null) {
      root.put("max_completion_tokens", endpoint.maxCompletionTokens());
    }
    if (endpoint.reasoningEffort() != null) {
      root.put("reasoning_effort", endpoint.reasoningEffort());
    }
    Long seed = request.seed() != null ? request.seed() : endpoint.seed();
    if (seed != null) {
      root.put("seed", seed);
    }
    if (!endpoint.stop().isEmpty()) {
      ArrayNode stop = root.putArray("stop");
      endpoint.stop().forEach(stop::add);
    }
    try {
      return JSON.writeValueAsBytes(root);
    } catch (IOException e) {
      throw new IllegalStateException("cannot serialize a chat request", e);
    }
  }

  private record ParsedAnswer(List<String> choices, String finishReason, String reasoning, Usage usage) {}

  /**
   * The answer one line of a Batch API output or error file carries for {@code request}: its
   * response's HTTP {@code status} and {@code body}, read exactly as an online attempt's would be
   * (an error status is the failure an online attempt would raise, usage estimated when missing).
   * {@code startedAtMs} and {@code endedAtMs} are when the batch was sent and read back.
   */
  public ChatResponse fromBatch(int status, byte[] body, ChatRequest request, long startedAtMs, long endedAtMs)
      throws ChatException {
    if (status == 429) {
      throw new ChatException(ErrorKind.RATE_LIMITED, status, -1, 1, describe(status, body));
    }
    if (status >= 500) {
      throw new ChatException(ErrorKind.SERVER_ERROR, status, -1, 1, describe(status, body));
    }
    if (status < 200 || status >= 300) {
      throw new ChatException(ErrorKind.CLIENT_ERROR, status, -1, 1, describe(status, body));
    }
    ParsedAnswer a = parse(body, request);
    return new ChatResponse(a.choices.get(0), a.finishReason, a.usage.promptTokens(), a.usage.completionTokens(),
        1, endedAtMs - startedAtMs, 0, a.choices, 0, startedAtMs, endedAtMs, a.reasoning, a.usage.reasoningTokens(),
        a.usage.estimated());
  }

  /**
   * One request, written down in the run's {@link CallLedger} before it is sent and again when it
   * ends, whatever the end: its billed usage, the error kind, or {@code timeout} (possibly billed).
   */
  private ParsedAnswer attemptOnce(byte[] body, ChatRequest request, String kind) throws ChatException {
    if (ledger == null) {
      return exchange(body, request);
    }
    String launch = endpoint.budget().launch();
    long worstCompletion = TokenEstimate.completionTokens(endpoint, request,
        endpoint.budget().assumedCompletionTokens());
    long id = ledger.intent(launch, endpoint.name(), kind, bodyHash(body),
        endpoint.costUsd(TokenEstimate.promptTokens(request), worstCompletion));
    String status = "failed";
    Usage used = Usage.NONE;
    try {
      ParsedAnswer a = exchange(body, request);
      status = "ok";
      used = a.usage;
      return a;
    } catch (ChatException e) {
      status = e.kind() == ErrorKind.TIMEOUT ? "timeout" : e.kind().wireName();
      used = e.usage();
      throw e;
    } finally {
      ledger.outcome(id, launch, endpoint.name(), status, used.promptTokens(), used.completionTokens(),
          used.reasoningTokens(), used.estimated(), endpoint.costUsd(used.promptTokens(), used.completionTokens()));
    }
  }

  /** A short hash of a request's body: the same request sent twice has the same one in the ledger. */
  private static String bodyHash(byte[] body) {
    try {
      return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(body), 0, 8);
    } catch (java.security.NoSuchAlgorithmException e) {
      return null;
    }
  }

  private ParsedAnswer exchange(byte[] body, ChatRequest request) throws ChatException {
    HttpResponse response = null;
    try {
      HttpRequest req = requests.buildPostRequest(url, new ByteArrayContent("application/json", body));
      req.setConnectTimeout(endpoint.connectTimeoutMs());
      req.setReadTimeout(endpoint.readTimeoutMs());
      req.setNumberOfRetries(0);
      req.setThrowExceptionOnExecuteError(false);
      req.setLoggingEnabled(false);
      req.setCurlLoggingEnabled(false);
      if (apiKey != null) {
        req.getHeaders().setAuthorization("Bearer " + apiKey);
      }
      response = req.execute();
      int status = response.getStatusCode();
      byte[] raw;
      try (InputStream in = response.getContent()) {
        raw = in == null ? new byte[0] : in.readAllBytes();
      }
      if (status == 429) {
        throw new ChatException(ErrorKind.RATE_LIMITED, status, retryAfterMs(response), 0,
            describe(status, raw));
      }
      if (status >= 500) {
        throw new ChatException(ErrorKind.SERVER_ERROR, status, retryAfterMs(response), 0,
            describe(status, raw));
      }
      if (status < 200 || status >= 300) {
        throw new ChatException(ErrorKind.CLIENT_ERROR, status, -1, 0, describe(status, raw));
      }
      return parse(raw, request);
    } catch (SocketTimeoutException e) {
      throw new ChatException(ErrorKind.TIMEOUT, 0, -1, 0,
          "no answer from " + endpoint.name() + " within the read timeout (" + endpoint.readTimeoutMs() + " ms)");
    } catch (InterruptedIOException e) {
      throw new ChatException(ErrorKind.TIMEOUT, 0, -1, 0,
          "timed out talking to " + endpoint.name() + ": " + safe(e.getMessage()));
    } catch (IOException e) {
      throw new ChatException(ErrorKind.CONNECTION, 0, -1, 0,
          "connection to " + endpoint.name() + " failed: " + e.getClass().getSimpleName() + ": " + safe(e.getMessage()));
    } finally {
      if (response != null) {
        try {
          response.disconnect();
        } catch (IOException ignored) {
          // the connection is released either way
        }
      }
    }
  }

  /**
   * What the server billed for one answer: its {@code usage}, or, when it sent none (or the body
   * could not be read), an estimate from the request and the text that came back, flagged as such.
   */
  private static Usage usageOf(JsonNode root, ChatRequest request, long answerChars) {
    JsonNode usage = root == null ? null : root.get("usage");
    if (usage != null && usage.isObject()
        && (usage.path("prompt_tokens").isNumber() || usage.path("completion_tokens").isNumber())) {
      JsonNode details = usage.path("completion_tokens_details");
      long reasoning = details.path("reasoning_tokens").asLong(0);
      return new Usage(usage.path("prompt_tokens").asLong(0), usage.path("completion_tokens").asLong(0),
          reasoning, false);
    }
    return new Usage(TokenEstimate.promptTokens(request), Math.max(1, (answerChars + 3) / 4), 0, true);
  }

  private ParsedAnswer parse(byte[] raw, ChatRequest request) throws ChatException {
    JsonNode root;
    try {
      root = JSON.readTree(raw);
    } catch (IOException e) {
      root = null;
    }
    if (root == null || !root.isObject()) {
      throw new ChatException(ErrorKind.MALFORMED_RESPONSE, 200, -1, 0,
          "unreadable JSON from " + endpoint.name() + ": " + snippet(raw))
          .withUsage(usageOf(null, request, raw.length));
    }
    JsonNode choice = root.path("choices").path(0);
    JsonNode message = choice.path("message");
    if (!message.isObject() || !(message.has("content") || message.has("reasoning_content") || message.has("reasoning"))) {
      throw new ChatException(ErrorKind.MALFORMED_RESPONSE, 200, -1, 0,
          "answer from " + endpoint.name() + " has no choices[0].message.content: " + snippet(raw))
          .withUsage(usageOf(root, request, raw.length));
    }
    List<String> choices = new ArrayList<>();
    String firstReasoning = null;
    String firstAnswer = null;
    long chars = 0;
    for (JsonNode c : root.path("choices")) {
      JsonNode m = c.path("message");
      String content = m.path("content").isTextual() ? m.get("content").asText() : "";
      String reasoning = textOf(m.get("reasoning_content"));
      if (reasoning == null) {
        reasoning = textOf(m.get("reasoning"));
      }
      chars += content.length() + (reasoning == null ? 0 : reasoning.length());
      ThinkBlocks.Split split = ThinkBlocks.split(content);
      String thinking = join(reasoning, split.thinking());
      String answer = split.answer() == null ? "" : split.answer();
      if (firstAnswer == null) {
        firstAnswer = answer;
        firstReasoning = thinking;
      }
      if (!answer.isBlank()) {
        choices.add(endpoint.keepReasoning() ? ThinkBlocks.withThinking(answer, thinking) : answer);
      }
    }
    Usage usage = usageOf(root, request, chars);
    String finish = choice.path("finish_reason").isTextual() ? choice.get("finish_reason").asText() : null;
    if (choices.isEmpty()) {
      if (firstReasoning != null && "length".equals(finish)) {
        Integer limit = endpoint.completionLimit();
        throw new ChatException(ErrorKind.REASONING_EXHAUSTED, 200, -1, 0,
            "model " + endpoint.name() + " spent its whole completion budget on reasoning and wrote no answer"
                + " (finish_reason length, " + usage.completionTokens() + " completion tokens"
                + (usage.reasoningTokens() > 0 ? ", " + usage.reasoningTokens() + " of them reasoning" : "")
                + (limit != null ? ", limit " + limit : "")
                + "): raise max_completion_tokens (or max_tokens) or lower reasoning_effort; not retried,"
                + " the same request would end the same way")
            .withUsage(usage);
      }
      throw new ChatException(ErrorKind.EMPTY_CONTENT, 200, -1, 0,
          "answer from " + endpoint.name() + " has empty content (finish_reason "
              + choice.path("finish_reason").asText("none")
              + (firstReasoning != null ? "; it wrote only reasoning" : "") + ")")
          .withUsage(usage);
    }
    return new ParsedAnswer(choices, finish, firstReasoning, usage);
  }

  private static String textOf(JsonNode n) {
    return n != null && n.isTextual() && !n.asText().isBlank() ? n.asText() : null;
  }

  private static String join(String a, String b) {
    if (a == null) {
      return b;
    }
    return b == null ? a : a + "\n" + b;
  }

  private String describe(int status, byte[] raw) {
    return "HTTP " + status + " from " + endpoint.name() + ": " + snippet(raw);
  }

  private String snippet(byte[] raw) {
    String s = new String(raw, StandardCharsets.UTF_8);
    if (s.length() > ERROR_BODY_CHARS) {
      s = s.substring(0, ERROR_BODY_CHARS) + "…";
    }
    return safe(s);
  }

  private String safe(String s) {
    return Redactor.redact(s, apiKey);
  }

  static long retryAfterMs(HttpResponse response) {
    String ms = response.getHeaders().getFirstHeaderStringValue("retry-after-ms");
    if (ms != null) {
      try {
        return Math.max(0, (long) Double.parseDouble(ms.trim()));
      } catch (NumberFormatException ignored) {
        // fall through to Retry-After
      }
    }
    return parseRetryAfter(response.getHeaders().getFirstHeaderStringValue("Retry-After"));
  }

  /** Seconds or an HTTP date, as RFC 9110 allows; -1 when absent or unreadable. */
  static long parseRetryAfter(String value) {
    if (value == null || value.isBlank()) {
      return -1;
    }
    String v = value.trim();
    try {
      return Math.max(0, (long) (Double.parseDouble(v) * 1000));
    } catch (NumberFormatException notSeconds) {
      try {
        ZonedDateTime at = ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME);
        return Math.max(0, Duration.between(ZonedDateTime.now(at.getZone()), at).toMillis());
      } catch (RuntimeException notADate) {
        return -1;
      }
    }
  }

  @Override
  public void close() {
    try {
      transport.shutdown();
    } catch (IOException ignored) {
      // nothing left to release
    } finally {
      if (ledgerReleased.compareAndSet(false, true)) {
        CallLedger.release(ledger);
      }
    }
  }

  private final AtomicBoolean ledgerReleased = new AtomicBoolean();
  private volatile boolean stopped;

  @Override
  public void stopSending() {
    stopped = true;
  }

  @Override
  public String toString() {
    return "OpenAiChatClient{" + endpoint + "}";
  }
}

package dev.moaa.transforms.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
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

/**
 * A client for {@code POST {base_url}/chat/completions} on google-http-client with a pooled Apache
 * transport, so that many calls can be in flight at once. It retries 429, 5xx, timeouts,
 * connection errors and unreadable or empty answers with exponential backoff and jitter, honouring
 * {@code retry-after-ms} and {@code Retry-After}; other 4xx fail at once. The answer or failure
 * says how many attempts it took, how many of them were answered 429, and when the call started
 * and ended (wall clock). The API key goes only
 * into the Authorization header and is redacted from every message it produces.
 */
public final class OpenAiChatClient implements ChatClient {
  private static final ObjectMapper JSON = new ObjectMapper();
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

  private OpenAiChatClient(ModelEndpoint endpoint, String apiKey, Sleeper sleeper) {
    this.endpoint = endpoint;
    this.gate = new RequestGate(endpoint.maxConcurrency(), endpoint.rateLimits());
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
    return new OpenAiChatClient(endpoint, endpoint.resolveApiKey(), Thread::sleep);
  }

  /** For tests: an explicit key (may be null) and sleeper. */
  public static OpenAiChatClient create(ModelEndpoint endpoint, String apiKey, Sleeper sleeper) {
    return new OpenAiChatClient(endpoint, apiKey, sleeper);
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
    byte[] body = requestBody(endpoint, request);
    RetryPolicy policy = endpoint.retry();
    long start = System.nanoTime();
    long startedAtMs = System.currentTimeMillis();
    int rateLimited = 0;
    long estimate = TokenEstimate.promptTokens(request) + TokenEstimate.completionTokens(endpoint, request, 0);
    for (int attempt = 1; ; attempt++) {
      RequestGate.Permit permit;
      try {
        permit = gate.acquire(estimate);
      } catch (InterruptedException ie) {
        Thread.currentThread().interrupt();
        throw new ChatException(ErrorKind.CONNECTION, 0, -1, attempt - 1, "interrupted while waiting to send")
            .withAttempts(attempt - 1, rateLimited).withTimes(startedAtMs, System.currentTimeMillis());
      }
      try {
        ParsedAnswer a;
        try {
          a = attemptOnce(body);
        } catch (ChatException e) {
          gate.release(permit, e.kind() == ErrorKind.RATE_LIMITED ? RequestGate.Result.RATE_LIMITED
              : RequestGate.Result.OTHER_FAILURE, -1, e.retryAfterMs());
          throw e;
        } catch (RuntimeException e) {
          gate.release(permit, RequestGate.Result.OTHER_FAILURE, -1, -1);
          throw e;
        }
        gate.release(permit, RequestGate.Result.SUCCESS, a.promptTokens + a.completionTokens, -1);
        long latency = (System.nanoTime() - start) / 1_000_000;
        return new ChatResponse(a.choices.get(0), a.finishReason, a.promptTokens, a.completionTokens,
            attempt, latency, attempt - 1, a.choices, rateLimited, startedAtMs, startedAtMs + latency);
      } catch (ChatException e) {
        if (e.kind() == ErrorKind.RATE_LIMITED) {
          rateLimited++;
        }
        if (!e.kind().retryable() || attempt >= policy.maxAttempts()) {
          throw e.withAttempts(attempt, rateLimited).withTimes(startedAtMs, System.currentTimeMillis());
        }
        try {
          sleeper.sleep(policy.backoffMs(attempt, e.retryAfterMs()));
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          throw new ChatException(ErrorKind.CONNECTION, 0, -1, attempt, "interrupted while backing off")
              .withAttempts(attempt, rateLimited).withTimes(startedAtMs, System.currentTimeMillis());
        }
      }
    }
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

  private record ParsedAnswer(List<String> choices, String finishReason, long promptTokens, long completionTokens) {}

  private ParsedAnswer attemptOnce(byte[] body) throws ChatException {
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
      return parse(raw);
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

  private ParsedAnswer parse(byte[] raw) throws ChatException {
    JsonNode root;
    try {
      root = JSON.readTree(raw);
    } catch (IOException e) {
      throw new ChatException(ErrorKind.MALFORMED_RESPONSE, 200, -1, 0,
          "unreadable JSON from " + endpoint.name() + ": " + snippet(raw));
    }
    JsonNode choice = root == null ? null : root.path("choices").path(0);
    JsonNode message = choice == null ? null : choice.path("message");
    if (message == null || !message.isObject() || !message.has("content")) {
      throw new ChatException(ErrorKind.MALFORMED_RESPONSE, 200, -1, 0,
          "answer from " + endpoint.name() + " has no choices[0].message.content: " + snippet(raw));
    }
    List<String> choices = new ArrayList<>();
    for (JsonNode c : root.path("choices")) {
      JsonNode content = c.path("message").path("content");
      if (content.isTextual() && !content.asText().isBlank()) {
        choices.add(content.asText());
      }
    }
    if (choices.isEmpty()) {
      throw new ChatException(ErrorKind.EMPTY_CONTENT, 200, -1, 0,
          "answer from " + endpoint.name() + " has empty content (finish_reason "
              + choice.path("finish_reason").asText("none") + ")");
    }
    JsonNode usage = root.path("usage");
    String finish = choice.path("finish_reason").isTextual() ? choice.get("finish_reason").asText() : null;
    return new ParsedAnswer(choices, finish,
        usage.path("prompt_tokens").asLong(0), usage.path("completion_tokens").asLong(0));
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
    }
  }

  @Override
  public String toString() {
    return "OpenAiChatClient{" + endpoint + "}";
  }
}

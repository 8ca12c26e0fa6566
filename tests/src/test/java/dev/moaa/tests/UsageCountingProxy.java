package dev.moaa.tests;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

/**
 * An HTTP proxy on 127.0.0.1 in front of an OpenAI-compatible server, for tests that check what a run
 * really asked and used: it forwards every request (method, path and query, headers, body) to the
 * target and returns the target's answer unchanged (status, headers, body; a streamed answer is read
 * whole, then returned). For each request it records the path, the {@code model} of the JSON body, the
 * status and, for a 200, the answer's {@code usage} (for a server-sent-event stream, the last chunk
 * that carries one).
 *
 * <p>It also notes every request body that was answered with an exhausted completion (finish reason
 * {@code length}, no content) and counts the requests that send such a body again ({@link
 * #resentAfterExhausted()}).
 *
 * <p>{@link #failWith(int, String)} makes it answer that status and body to every request instead of
 * forwarding (the exit-code tests); {@link #forward()} undoes it. Thread-safe, for many concurrent
 * requests.
 */
final class UsageCountingProxy implements AutoCloseable {
  /** One forwarded (or refused) request. The token counts are null when the answer had none. */
  record Exchange(String method, String path, String model, int status, boolean usagePresent,
      Long promptTokens, Long completionTokens, Long reasoningTokens) {}

  private record Forced(int status, byte[] body) {}

  /** Hop-by-hop headers and those java.net.http sets itself. */
  private static final Set<String> NOT_FORWARDED = Set.of("connection", "content-length", "expect", "host",
      "upgrade", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "http2-settings");

  private static final ObjectMapper JSON = new ObjectMapper();

  private final URI target;
  private final HttpServer server;
  private final ExecutorService executor;
  private final HttpClient client;
  private final ConcurrentLinkedQueue<Exchange> exchanges = new ConcurrentLinkedQueue<>();
  private final Set<String> exhaustedBodies = java.util.concurrent.ConcurrentHashMap.newKeySet();
  private final Set<String> answeredBodies = java.util.concurrent.ConcurrentHashMap.newKeySet();
  private final AtomicInteger resentAfterExhausted = new AtomicInteger();
  private volatile Forced forced;
  /** Non-null: requests are forwarded one at a time, in the order they take it. */
  private final Object oneAtATime;

  /** Starts a proxy in front of {@code targetBaseUrl} (e.g. {@code http://127.0.0.1:8000/v1}). */
  UsageCountingProxy(String targetBaseUrl) {
    this(targetBaseUrl, false);
  }

  /**
   * As {@link #UsageCountingProxy(String)}; {@code oneAtATime}: forward one request at a time, so
   * that a server whose sampling seed is process-wide ({@code transformers serve}: torch's global
   * seed) answers each request's {@code seed} the same way on every run.
   */
  UsageCountingProxy(String targetBaseUrl, boolean oneAtATime) {
    this.oneAtATime = oneAtATime ? new Object() : null;
    this.target = URI.create(targetBaseUrl);
    AtomicInteger n = new AtomicInteger();
    this.executor = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "usage-proxy-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    this.client = HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(10))
        .followRedirects(HttpClient.Redirect.NEVER)
        .executor(executor)
        .build();
    try {
      server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 512);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    server.createContext("/", this::handle);
    server.setExecutor(executor);
    server.start();
  }

  int port() {
    return server.getAddress().getPort();
  }

  /** The proxy's base URL: the target's, with the proxy's host and port (e.g. http://127.0.0.1:P/v1). */
  String baseUrl() {
    String path = target.getRawPath() == null ? "" : target.getRawPath();
    if (path.endsWith("/")) {
      path = path.substring(0, path.length() - 1);
    }
    return "http://127.0.0.1:" + port() + path;
  }

  /** From now on answer every request with {@code status} and this JSON body, without forwarding. */
  UsageCountingProxy failWith(int status, String jsonBody) {
    forced = new Forced(status, jsonBody.getBytes(StandardCharsets.UTF_8));
    return this;
  }

  /** From now on forward again. */
  UsageCountingProxy forward() {
    forced = null;
    return this;
  }

  /** Forgets the requests recorded so far. */
  void reset() {
    exchanges.clear();
  }

  /** The requests recorded so far, in the order their answers were complete. */
  List<Exchange> requests() {
    return new ArrayList<>(exchanges);
  }

  /** Sum of usage.prompt_tokens over the 200 answers. */
  long promptTokens() {
    return sum(e -> true, Exchange::promptTokens);
  }

  /** Sum of usage.completion_tokens over the 200 answers. */
  long completionTokens() {
    return sum(e -> true, Exchange::completionTokens);
  }

  /** Sum of usage.completion_tokens_details.reasoning_tokens over the 200 answers that had it. */
  long reasoningTokens() {
    return sum(e -> true, Exchange::reasoningTokens);
  }

  long promptTokens(String model) {
    return sum(e -> model.equals(e.model()), Exchange::promptTokens);
  }

  long completionTokens(String model) {
    return sum(e -> model.equals(e.model()), Exchange::completionTokens);
  }

  /** How many 200 answers carried no usage. */
  long withoutUsage() {
    return exchanges.stream().filter(e -> e.status() == 200 && !e.usagePresent()).count();
  }

  long count() {
    return exchanges.size();
  }

  long countByStatus(int status) {
    return exchanges.stream().filter(e -> e.status() == status).count();
  }

  long countByModel(String model) {
    return exchanges.stream().filter(e -> model.equals(e.model())).count();
  }

  /** Status -> number of requests. */
  Map<Integer, Long> statusCounts() {
    Map<Integer, Long> m = new TreeMap<>();
    exchanges.forEach(e -> m.merge(e.status(), 1L, Long::sum));
    return m;
  }

  /** Model ("" when the body named none) -> number of requests. */
  Map<String, Long> modelCounts() {
    Map<String, Long> m = new TreeMap<>();
    exchanges.forEach(e -> m.merge(e.model() == null ? "" : e.model(), 1L, Long::sum));
    return m;
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }

  // ---- the proxy ----

  private long sum(Predicate<Exchange> which, java.util.function.Function<Exchange, Long> field) {
    long total = 0;
    for (Exchange e : exchanges) {
      if (e.status() == 200 && which.test(e)) {
        Long v = field.apply(e);
        total += v == null ? 0 : v;
      }
    }
    return total;
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      byte[] body;
      try (InputStream in = ex.getRequestBody()) {
        body = in.readAllBytes();
      }
      String method = ex.getRequestMethod();
      String rawPath = ex.getRequestURI().getRawPath();
      String query = ex.getRequestURI().getRawQuery();
      String model = modelOf(body);
      String bodyHash = hash(body);
      if (exhaustedBodies.contains(bodyHash)) {
        resentAfterExhausted.incrementAndGet();
      }
      Forced f = forced;
      if (f != null) {
        exchanges.add(new Exchange(method, rawPath, model, f.status(), false, null, null, null));
        ex.getResponseHeaders().set("Content-Type", "application/json");
        send(ex, f.status(), f.body());
        return;
      }
      URI to = URI.create(target.getScheme() + "://" + target.getRawAuthority() + rawPath
          + (query == null ? "" : "?" + query));
      HttpRequest.Builder rb = HttpRequest.newBuilder(to).timeout(Duration.ofMinutes(10))
          .method(method, body.length == 0 && ("GET".equals(method) || "HEAD".equals(method))
              ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
      for (Map.Entry<String, List<String>> h : ex.getRequestHeaders().entrySet()) {
        if (h.getKey() == null || NOT_FORWARDED.contains(h.getKey().toLowerCase(Locale.ROOT))) {
          continue;
        }
        for (String v : h.getValue()) {
          rb.header(h.getKey(), v);
        }
      }
      HttpResponse<byte[]> resp;
      try {
        if (oneAtATime != null) {
          synchronized (oneAtATime) {
            resp = client.send(rb.build(), HttpResponse.BodyHandlers.ofByteArray());
          }
        } else {
          resp = client.send(rb.build(), HttpResponse.BodyHandlers.ofByteArray());
        }
      } catch (IOException e) {
        exchanges.add(new Exchange(method, rawPath, model, 502, false, null, null, null));
        ex.getResponseHeaders().set("Content-Type", "application/json");
        send(ex, 502, JSON.writeValueAsBytes(Map.of("error", Map.of(
            "message", "proxy could not reach " + to + ": " + e, "type", "proxy_error"))));
        return;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        send(ex, 503, new byte[0]);
        return;
      }
      byte[] answer = resp.body() == null ? new byte[0] : resp.body();
      exchanges.add(record(method, rawPath, model, resp.statusCode(), answer));
      if (resp.statusCode() == 200 && exhausted(answer)) {
        exhaustedBodies.add(bodyHash);
      }
      if (resp.statusCode() == 200) {
        answeredBodies.add(bodyHash);
      }
      Headers out = ex.getResponseHeaders();
      resp.headers().map().forEach((k, vs) -> {
        if (k != null && !k.startsWith(":") && !NOT_FORWARDED.contains(k.toLowerCase(Locale.ROOT))
            && !"date".equalsIgnoreCase(k)) {
          vs.forEach(v -> out.add(k, v));
        }
      });
      send(ex, resp.statusCode(), "HEAD".equals(method) ? new byte[0] : answer);
    } catch (RuntimeException e) {
      // never leave a client hanging on a bug here
      try {
        send(ex, 500, ("{\"error\":{\"message\":\"proxy failure: " + e + "\"}}").getBytes(StandardCharsets.UTF_8));
      } catch (IOException | RuntimeException ignored) {
        // the answer was already started
      }
      throw e;
    }
  }

  /** Distinct request bodies answered 200 (a body sent again, a retry, counts once). */
  int distinctAnsweredBodies() {
    return answeredBodies.size();
  }

  /** Requests that sent again a body whose earlier answer was an exhausted completion. */
  int resentAfterExhausted() {
    return resentAfterExhausted.get();
  }

  /** A plain JSON answer whose first choice stopped at its length with no content. */
  private static boolean exhausted(byte[] answer) {
    try {
      JsonNode c = JSON.readTree(answer).path("choices").path(0);
      String content = c.path("message").path("content").asText("");
      return "length".equals(c.path("finish_reason").asText()) && content.isBlank();
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  private static String hash(byte[] body) {
    try {
      return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(body));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static void send(HttpExchange ex, int status, byte[] body) throws IOException {
    boolean noBody = body.length == 0 || status == 204 || status == 304 || status < 200;
    ex.sendResponseHeaders(status, noBody ? -1 : body.length);
    if (!noBody) {
      try (OutputStream os = ex.getResponseBody()) {
        os.write(body);
      }
    }
  }

  private static String modelOf(byte[] body) {
    if (body.length == 0) {
      return null;
    }
    try {
      JsonNode n = JSON.readTree(body);
      JsonNode m = n == null ? null : n.get("model");
      return m != null && m.isTextual() ? m.asText() : null;
    } catch (IOException e) {
      return null;
    }
  }

  private static Exchange record(String method, String path, String model, int status, byte[] answer) {
    if (status != 200) {
      return new Exchange(method, path, model, status, false, null, null, null);
    }
    JsonNode usage = usageOf(answer);
    if (usage == null) {
      return new Exchange(method, path, model, status, false, null, null, null);
    }
    JsonNode reasoning = usage.path("completion_tokens_details").get("reasoning_tokens");
    return new Exchange(method, path, model, status, true,
        number(usage.get("prompt_tokens")), number(usage.get("completion_tokens")),
        reasoning != null && reasoning.isNumber() ? reasoning.asLong() : null);
  }

  private static Long number(JsonNode n) {
    return n != null && n.isNumber() ? n.asLong() : null;
  }

  /** The usage object of a JSON answer, or of the last server-sent event that has one; else null. */
  private static JsonNode usageOf(byte[] answer) {
    String text = new String(answer, StandardCharsets.UTF_8);
    String trimmed = text.stripLeading();
    if (trimmed.startsWith("{")) {
      try {
        JsonNode u = JSON.readTree(trimmed).get("usage");
        return u != null && u.isObject() ? u : null;
      } catch (IOException e) {
        return null;
      }
    }
    JsonNode found = null;
    for (String line : text.split("\r?\n")) {
      if (!line.startsWith("data:")) {
        continue;
      }
      String data = line.substring(5).trim();
      if (data.isEmpty() || "[DONE]".equals(data)) {
        continue;
      }
      try {
        JsonNode u = JSON.readTree(data).get("usage");
        if (u != null && u.isObject()) {
          found = u;
        }
      } catch (IOException e) {
        // not JSON: skip
      }
    }
    return found;
  }
}

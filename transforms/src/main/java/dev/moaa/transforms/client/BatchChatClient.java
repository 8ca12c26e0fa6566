package dev.moaa.transforms.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moaa.transforms.cache.CacheException;
import dev.moaa.transforms.cache.ResponseCache;
import dev.moaa.transforms.cache.SharedCaches;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A model's calls through its provider's OpenAI-compatible Batch API ({@code execution: batch}):
 * each {@link #complete} waits while its request travels in a batch with the others that arrive
 * meanwhile. Requests are collected until {@code max_requests} wait or {@code flush_ms} has passed
 * since the first, written to a JSONL file (one line per request: {@code custom_id}, the same body
 * an online call would send), uploaded to {@code /v1/files}, submitted to {@code /v1/batches}, and
 * the batch is polled every {@code poll_ms} until it ends; each answer is then read exactly as an
 * online answer ({@link OpenAiChatClient#fromBatch}). Stages that depend on each other (proposals,
 * then the aggregate) become successive batches by themselves: a request is sent when its chain
 * asks for it.
 *
 * <p>A request a batch failed (a 5xx or 429 in the error file), left unanswered (expired,
 * cancelled) or never reported is put into a later batch, up to {@code max_submissions} times in all;
 * a refused one (4xx) fails at once, as online. The {@code custom_id} of a request is the SHA-256 of
 * its body. Before a batch is created, the file it is made from is written to the response cache
 * for each of its requests ({@code batchfile|MODEL|CUSTOM_ID|N}), and the batch's id once it is
 * ({@code batch|...}): a run stopped while batches are under way finds them there when it runs
 * again (a batch whose id was not yet written is found by its file among the provider's batches) and
 * waits for those batches instead of sending its requests a second time. Answers
 * reach the response cache like online ones (the call layer stores every answer it is handed).
 */
public final class BatchChatClient implements ChatClient {
  private static final Logger LOG = LoggerFactory.getLogger(BatchChatClient.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String ENDPOINT = "/v1/chat/completions";
  private static final AtomicLong SUBMITTED = new AtomicLong();
  private static final AtomicLong ACTIVE = new AtomicLong();
  private static final AtomicLong DONE = new AtomicLong();
  private static final AtomicLong RESUMED = new AtomicLong();

  /** The batches of every batch client of this JVM: submitted, under way, ended; and how many were found again. */
  public record Stats(long submitted, long inProgress, long done, long resumed) {
    /** What happened since {@code earlier} (batches under way: now). */
    public Stats since(Stats earlier) {
      return new Stats(submitted - earlier.submitted, inProgress, done - earlier.done, resumed - earlier.resumed);
    }
  }

  /** What a finished batch said of one request. */
  private record LineResult(int status, byte[] body, String errorCode, String errorMessage) {}

  /** One request waiting for its batch. */
  private static final class Pending {
    final String customId;
    final byte[] body;
    final ChatRequest request;
    final CompletableFuture<ChatResponse> answer = new CompletableFuture<>();
    int submissions;
    long sentAtMs;

    Pending(String customId, byte[] body, ChatRequest request) {
      this.customId = customId;
      this.body = body;
      this.request = request;
    }
  }

  /** A batch this client waits for, and the requests waiting on it. */
  private static final class Tracked {
    final String id;
    final Map<String, Pending> waiting = new ConcurrentHashMap<>();

    Tracked(String id) {
      this.id = id;
    }
  }

  private final ModelEndpoint endpoint;
  private final BatchSettings settings;
  private final OpenAiChatClient reader;
  private final String apiKey;
  private final HttpClient http;
  private final ResponseCache store;
  private final Map<String, Pending> pending = new ConcurrentHashMap<>();
  private final List<Pending> queue = new ArrayList<>();
  private long firstQueuedAtMs;
  private final Map<String, Tracked> active = new LinkedHashMap<>();
  private final Map<String, Map<String, LineResult>> finished = new HashMap<>();
  private final Thread worker;
  private volatile boolean closed;

  private BatchChatClient(ModelEndpoint endpoint, OpenAiChatClient reader, String apiKey, ResponseCache store) {
    this.endpoint = endpoint;
    this.settings = endpoint.batch();
    this.reader = reader;
    this.apiKey = apiKey;
    this.store = store;
    this.http = HttpClient.newBuilder().connectTimeout(Duration.ofMillis(endpoint.connectTimeoutMs())).build();
    this.worker = new Thread(this::work, "moaa-batch-" + endpoint.name());
    this.worker.setDaemon(true);
    this.worker.start();
  }

  /** The batch client of {@code endpoint} (which has {@code execution: batch}), its key read now. */
  public static BatchChatClient create(ModelEndpoint endpoint) throws ChatException {
    if (endpoint.batch() == null) {
      throw new IllegalArgumentException("model " + endpoint.name() + " is not in batch execution");
    }
    String key = endpoint.resolveApiKey();
    ResponseCache store = null;
    if (endpoint.cache().enabled()) {
      try {
        store = SharedCaches.acquire(endpoint.cache());
      } catch (CacheException e) {
        LOG.warn("model {}: the response cache cannot hold its batches ({}); a stopped run will send them again",
            endpoint.name(), e.getMessage());
      }
    }
    return new BatchChatClient(endpoint, OpenAiChatClient.create(endpoint, key, Thread::sleep), key, store);
  }

  /** The batches of every batch client of this JVM. */
  public static Stats stats() {
    return new Stats(SUBMITTED.get(), ACTIVE.get(), DONE.get(), RESUMED.get());
  }

  @Override
  public ChatResponse complete(ChatRequest request) throws ChatException {
    ChatResponse first = one(request);
    if (request.n() <= 1 || first.choices().size() >= request.n()) {
      return first;
    }
    // a server that answers one choice whatever n asks: the others one request each, as online
    List<String> choices = new ArrayList<>(first.choices());
    long prompt = first.promptTokens();
    long completion = first.completionTokens();
    Long base = request.seed() != null ? request.seed() : endpoint.seed();
    long seed0 = base == null ? 0 : base;
    for (int i = choices.size(); i < request.n(); i++) {
      ChatResponse r = one(new ChatRequest(request.messages(), seed0 + i, 1));
      choices.add(r.content());
      prompt += r.promptTokens();
      completion += r.completionTokens();
    }
    long now = System.currentTimeMillis();
    return new ChatResponse(first.content(), first.finishReason(), prompt, completion, request.n(),
        now - first.startedAtMs(), 0, choices, 0, first.startedAtMs(), now, first.reasoning(),
        first.reasoningTokens(), first.usageEstimated());
  }

  private ChatResponse one(ChatRequest request) throws ChatException {
    byte[] body = OpenAiChatClient.requestBody(endpoint, request);
    String customId = customId(body);
    Pending p;
    boolean fresh;
    synchronized (this) {
      Pending known = pending.get(customId);
      fresh = known == null;
      p = fresh ? new Pending(customId, body, request) : known;
      if (fresh) {
        pending.put(customId, p);
        place(p);
      }
    }
    try {
      return p.answer.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new ChatException(ErrorKind.CONNECTION, 0, -1, 0, "interrupted while waiting for a batch");
    } catch (ExecutionException e) {
      if (e.getCause() instanceof ChatException c) {
        throw c;
      }
      throw new ChatException(ErrorKind.CONNECTION, 0, -1, 0, "batch call failed: " + e.getCause());
    } finally {
      if (fresh) {
        pending.remove(customId);
      }
    }
  }

  /**
   * Puts a new request where it belongs: with a batch an earlier run already submitted it in (from
   * the store), else in the queue of the next batch. Called holding this client's lock.
   */
  private void place(Pending p) {
    String batchId = storedBatch(p);
    if (batchId != null) {
      Map<String, LineResult> done = finished.get(batchId);
      if (done != null) {
        if (done.containsKey(p.customId) && settle(p, done.get(p.customId), System.currentTimeMillis())) {
          return;
        }
      } else {
        Tracked t = active.computeIfAbsent(batchId, id -> {
          RESUMED.incrementAndGet();
          ACTIVE.incrementAndGet();
          LOG.info("model {}: waiting for batch {} submitted by an earlier run", endpoint.name(), id);
          return new Tracked(id);
        });
        p.sentAtMs = System.currentTimeMillis();
        t.waiting.put(p.customId, p);
        notifyAll();
        return;
      }
    }
    enqueue(p);
  }

  /** Queues a request for the next batch; called holding this client's lock. */
  private void enqueue(Pending p) {
    if (p.submissions >= settings.maxSubmissions()) {
      p.answer.completeExceptionally(new ChatException(ErrorKind.SERVER_ERROR, 0, -1, p.submissions,
          "model " + endpoint.name() + ": no batch answered this request in " + p.submissions + " submission(s)"));
      return;
    }
    if (queue.isEmpty()) {
      firstQueuedAtMs = System.currentTimeMillis();
    }
    queue.add(p);
    notifyAll();
  }

  /** The batch that holds {@code p} per the store (the latest submission recorded), or null. */
  private String storedBatch(Pending p) {
    if (store == null) {
      return null;
    }
    String found = null;
    try {
      for (int n = 1; n <= settings.maxSubmissions(); n++) {
        byte[] v = store.get(storeKey("batch", p.customId, n));
        if (v == null) {
          byte[] file = store.get(storeKey("batchfile", p.customId, n));
          String byFile = file == null ? null : batchOfFile(new String(file, StandardCharsets.UTF_8));
          if (byFile == null) {
            break;
          }
          v = byFile.getBytes(StandardCharsets.UTF_8);
        }
        found = new String(v, StandardCharsets.UTF_8);
        p.submissions = n;
      }
    } catch (CacheException e) {
      LOG.debug("batch store read failed", e);
    }
    return found;
  }

  private String storeKey(String what, String customId, int n) {
    return what + "|" + endpoint.coordinationId() + "|" + customId + "|" + n;
  }

  private Map<String, String> batchesByFile;

  /** The provider's batch made from input file {@code fileId} (listed once per client), or null. */
  private String batchOfFile(String fileId) {
    if (batchesByFile == null) {
      batchesByFile = new HashMap<>();
      try {
        JsonNode list = JSON.readTree(send(HttpRequest.newBuilder(uri("/batches?limit=100")).GET()).body());
        for (JsonNode b : list.path("data")) {
          batchesByFile.put(b.path("input_file_id").asText(), b.path("id").asText());
        }
      } catch (ChatException | IOException e) {
        LOG.warn("model {}: cannot list the provider's batches: {}", endpoint.name(), e.getMessage());
      }
    }
    return batchesByFile.get(fileId);
  }

  /** The loop of the client's one thread: sends due batches, polls those under way. */
  private void work() {
    long nextPoll = 0;
    while (!closed) {
      try {
        List<Pending> toSend = null;
        synchronized (this) {
          long now = System.currentTimeMillis();
          boolean due = !queue.isEmpty()
              && (queue.size() >= settings.maxRequests() || now - firstQueuedAtMs >= settings.flushMs());
          if (due) {
            int n = Math.min(queue.size(), settings.maxRequests());
            toSend = new ArrayList<>(queue.subList(0, n));
            queue.subList(0, n).clear();
            firstQueuedAtMs = now;
          } else if (active.isEmpty() || now < nextPoll) {
            long untilFlush = queue.isEmpty() ? Long.MAX_VALUE : firstQueuedAtMs + settings.flushMs() - now;
            long untilPoll = active.isEmpty() ? Long.MAX_VALUE : nextPoll - now;
            long wait = Math.max(1, Math.min(Math.min(untilFlush, untilPoll), 1000));
            wait(wait);
            continue;
          }
        }
        if (toSend != null) {
          submit(toSend);
          continue;
        }
        pollAll();
        nextPoll = System.currentTimeMillis() + settings.pollMs();
      } catch (InterruptedException e) {
        return;
      } catch (RuntimeException e) {
        LOG.warn("model {}: batch loop: {}", endpoint.name(), e.toString());
      }
    }
  }

  /** Uploads and creates one batch of {@code requests}; a failure to do so fails them. */
  private void submit(List<Pending> requests) {
    ByteArrayOutputStream file = new ByteArrayOutputStream();
    try {
      for (Pending p : requests) {
        ObjectNode line = JSON.createObjectNode();
        line.put("custom_id", p.customId);
        line.put("method", "POST");
        line.put("url", ENDPOINT);
        line.set("body", JSON.readTree(p.body));
        file.write(JSON.writeValueAsBytes(line));
        file.write('\n');
      }
    } catch (IOException e) {
      fail(requests, new ChatException(ErrorKind.CLIENT_ERROR, 0, -1, 0, "cannot write a batch file: " + e));
      return;
    }
    String batchId;
    try {
      JsonNode uploaded = upload(file.toByteArray());
      record("batchfile", requests, uploaded.path("id").asText());
      ObjectNode create = JSON.createObjectNode();
      create.put("input_file_id", uploaded.path("id").asText());
      create.put("endpoint", ENDPOINT);
      create.put("completion_window", "24h");
      create.putObject("metadata").put("moaa_model", endpoint.name());
      HttpResponse<byte[]> r = send(HttpRequest.newBuilder(uri("/batches"))
          .header("Content-Type", "application/json")
          .POST(HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(create))));
      batchId = JSON.readTree(r.body()).path("id").asText();
    } catch (ChatException e) {
      fail(requests, e);
      return;
    } catch (IOException e) {
      fail(requests, new ChatException(ErrorKind.MALFORMED_RESPONSE, 200, -1, 0,
          "unreadable Batch API answer from " + endpoint.name() + ": " + e.getMessage()));
      return;
    }
    long now = System.currentTimeMillis();
    Tracked t = new Tracked(batchId);
    record("batch", requests, batchId);
    for (Pending p : requests) {
      p.submissions++;
      p.sentAtMs = now;
      t.waiting.put(p.customId, p);
    }
    synchronized (this) {
      active.put(batchId, t);
    }
    SUBMITTED.incrementAndGet();
    ACTIVE.incrementAndGet();
    LOG.info("model {}: batch {} submitted with {} request(s)", endpoint.name(), batchId, requests.size());
  }

  /** Writes, for each request, that its next submission is in {@code value} (a file id or a batch id). */
  private void record(String what, List<Pending> requests, String value) {
    if (store == null) {
      return;
    }
    for (Pending p : requests) {
      try {
        store.put(storeKey(what, p.customId, p.submissions + 1), endpoint.name(), value.getBytes(StandardCharsets.UTF_8));
      } catch (CacheException e) {
        LOG.debug("batch store write failed", e);
      }
    }
  }

  private void fail(List<Pending> requests, ChatException e) {
    requests.forEach(p -> p.answer.completeExceptionally(e));
  }

  private JsonNode upload(byte[] content) throws ChatException, IOException {
    String boundary = "moaa-" + Long.toHexString(System.nanoTime());
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    b.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n")
        .getBytes(StandardCharsets.UTF_8));
    b.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"moaa-"
        + endpoint.name().replaceAll("[^A-Za-z0-9._-]", "_") + ".jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n")
        .getBytes(StandardCharsets.UTF_8));
    b.writeBytes(content);
    b.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
    HttpResponse<byte[]> r = send(HttpRequest.newBuilder(uri("/files"))
        .header("Content-Type", "multipart/form-data; boundary=" + boundary)
        .POST(HttpRequest.BodyPublishers.ofByteArray(b.toByteArray())));
    return JSON.readTree(r.body());
  }

  /** Polls every batch under way; settles the requests of those that ended. */
  private void pollAll() {
    List<Tracked> batches;
    synchronized (this) {
      batches = new ArrayList<>(active.values());
    }
    for (Tracked t : batches) {
      JsonNode b;
      try {
        b = JSON.readTree(send(HttpRequest.newBuilder(uri("/batches/" + t.id)).GET()).body());
      } catch (ChatException | IOException e) {
        LOG.warn("model {}: polling batch {}: {}", endpoint.name(), t.id, e.getMessage());
        continue;
      }
      String status = b.path("status").asText();
      if (!List.of("completed", "expired", "failed", "cancelled").contains(status)) {
        continue;
      }
      Map<String, LineResult> results = new HashMap<>();
      try {
        read(b.path("output_file_id"), results);
        read(b.path("error_file_id"), results);
      } catch (ChatException | IOException e) {
        LOG.warn("model {}: reading the files of batch {}: {}", endpoint.name(), t.id, e.getMessage());
        continue;
      }
      String failure = status.equals("failed") ? "the batch failed: " + b.path("errors").path("data") : null;
      long now = System.currentTimeMillis();
      synchronized (this) {
        active.remove(t.id);
        finished.put(t.id, results);
        for (Pending p : t.waiting.values()) {
          if (failure != null) {
            p.answer.completeExceptionally(new ChatException(ErrorKind.CLIENT_ERROR, 400, -1, p.submissions,
                "model " + endpoint.name() + ": " + failure));
          } else if (!settle(p, results.get(p.customId), now)) {
            enqueue(p);
          }
        }
      }
      ACTIVE.decrementAndGet();
      DONE.incrementAndGet();
      LOG.info("model {}: batch {} {}: {} answered, {} to send again", endpoint.name(), t.id, status,
          b.path("request_counts").path("completed").asLong(), b.path("request_counts").path("failed").asLong());
    }
  }

  /**
   * Completes {@code p} from its line of a finished batch; false when it must go into another
   * batch (no line, a retryable failure, or unanswered before the batch ended).
   */
  private boolean settle(Pending p, LineResult line, long now) {
    if (line == null || line.errorCode() != null) {
      return false;
    }
    try {
      p.answer.complete(reader.fromBatch(line.status(), line.body(), p.request, p.sentAtMs == 0 ? now : p.sentAtMs, now));
      return true;
    } catch (ChatException e) {
      if (e.kind().retryable()) {
        // as online: a 5xx, 429, unreadable or empty answer is asked for again (in a later batch)
        return false;
      }
      p.answer.completeExceptionally(e.withAttempts(Math.max(1, p.submissions), 0));
      return true;
    }
  }

  private void read(JsonNode fileId, Map<String, LineResult> into) throws ChatException, IOException {
    if (fileId == null || fileId.isNull() || fileId.isMissingNode() || fileId.asText().isEmpty()) {
      return;
    }
    byte[] content = send(HttpRequest.newBuilder(uri("/files/" + fileId.asText() + "/content")).GET()).body();
    for (String text : new String(content, StandardCharsets.UTF_8).split("\n")) {
      if (text.isBlank()) {
        continue;
      }
      JsonNode line = JSON.readTree(text);
      String id = line.path("custom_id").asText();
      JsonNode response = line.path("response");
      if (response.isObject()) {
        into.put(id, new LineResult(response.path("status_code").asInt(), JSON.writeValueAsBytes(response.path("body")),
            null, null));
      } else {
        into.put(id, new LineResult(0, new byte[0], line.path("error").path("code").asText("unanswered"),
            line.path("error").path("message").asText("")));
      }
    }
  }

  private URI uri(String path) {
    return URI.create(endpoint.baseUrl() + path);
  }

  private HttpResponse<byte[]> send(HttpRequest.Builder request) throws ChatException {
    if (apiKey != null) {
      request.header("Authorization", "Bearer " + apiKey);
    }
    request.timeout(Duration.ofMillis(endpoint.readTimeoutMs()));
    ChatException last = null;
    for (int attempt = 1; attempt <= endpoint.retry().maxAttempts(); attempt++) {
      try {
        HttpResponse<byte[]> r = http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
        int s = r.statusCode();
        if (s >= 200 && s < 300) {
          return r;
        }
        String text = Redactor.redact(new String(r.body(), StandardCharsets.UTF_8), apiKey);
        last = new ChatException(s == 429 ? ErrorKind.RATE_LIMITED : s >= 500 ? ErrorKind.SERVER_ERROR
            : ErrorKind.CLIENT_ERROR, s, -1, attempt, "Batch API of " + endpoint.name() + " answered HTTP " + s + ": "
            + text.substring(0, Math.min(300, text.length())));
        if (s < 500 && s != 429) {
          throw last;
        }
      } catch (IOException e) {
        last = new ChatException(ErrorKind.CONNECTION, 0, -1, attempt, "Batch API of " + endpoint.name()
            + " unreachable: " + e.getClass().getSimpleName() + ": " + Redactor.redact(String.valueOf(e.getMessage()), apiKey));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new ChatException(ErrorKind.CONNECTION, 0, -1, attempt, "interrupted talking to the Batch API");
      }
      try {
        Thread.sleep(endpoint.retry().backoffMs(attempt, -1));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw last;
      }
    }
    throw last;
  }

  private static String customId(byte[] body) {
    try {
      return "moaa-" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(body), 0, 16);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public void close() {
    closed = true;
    worker.interrupt();
    synchronized (this) {
      long open = active.size();
      ACTIVE.addAndGet(-open);
      ChatException stop = new ChatException(ErrorKind.CONNECTION, 0, -1, 0, "the batch client was closed");
      queue.forEach(p -> p.answer.completeExceptionally(stop));
      active.values().forEach(t -> t.waiting.values().forEach(p -> p.answer.completeExceptionally(stop)));
      queue.clear();
      active.clear();
    }
    if (store != null) {
      SharedCaches.release(endpoint.cache());
    }
  }
}

package dev.moaa.runners.sim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ConcurrentSkipListSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A SIMULATED OpenAI-compatible chat-completion server: a real HTTP server on 127.0.0.1 that
 * answers deterministically without any model behind it.
 *
 * <p>It serves {@code POST /v1/chat/completions}, {@code GET /v1/models} and {@code GET
 * /sim/stats}. Latency, a per-model concurrency cap (answered with 429 and retry hints) or instead
 * a per-model queue (requests wait for one of a few processing slots, as on vLLM or TGI), injected
 * faults (429s whatever the load, 5xx, stalls, malformed and empty bodies, answers without usage),
 * servers that ignore {@code n}, reasoning models (separate {@code reasoning_content} and reasoning
 * tokens, or thinking written inline in {@code <think>} blocks) and an API key check are set
 * through {@link Settings}. Per model it counts the requests received, the answers by status, the
 * peaks in flight and in the queue, and the tokens billed in the {@code usage} of its answers.
 *
 * <p>Every answer carries token usage (unless drawn to leave it out) and its reply starts with a
 * {@code [simulated MODEL SIG]} tag derived from the model and the exact messages, so a test can
 * check what the caller sent, and ends with a hidden quality marker {@code ⟨quality=0.NNN⟩} (see
 * {@link SimulatedQuality}).
 *
 * <p>Requests laid out like the judge prompt templates (pairwise, aggregate, criteria selection,
 * verdict repair) are answered by simulated judges instead, which prefer the answer of higher
 * quality with a configurable noise and position bias; see {@link SimulatedJudge}. A last user
 * message containing {@value #INJECT_VERDICT_MARKER} gets an answer with the lines {@code
 * VERDICT: B} and {@code VERDICT: TIE} inside it, to test that judges are not fooled by them.
 *
 * <p>Fault decisions are deterministic per request body and attempt: the n-th time the same body
 * arrives it draws a fresh number from {@code sha256(seed, bodyHash, n)}, so retries of an
 * identical request eventually succeed. A user message containing {@value #ALWAYS_FAIL_MARKER} is
 * always answered with 500.
 *
 * <p>Loading this class sets the system property {@code sun.net.httpserver.nodelay=true} unless
 * it is already set, so back-to-back requests on a kept-alive connection do not each wait ~40 ms
 * for a delayed ACK, and {@code sun.net.httpserver.maxIdleConnections=10000}, so the server does
 * not silently close kept-alive connections of a client that holds more than 200; the JDK reads
 * both when the first {@code HttpServer} of the JVM starts.
 *
 * <pre>{@code
 * try (SimulatedEndpoint sim = SimulatedEndpoint.start(
 *     SimulatedEndpoint.Settings.defaults().withLatencyMs(20).withMaxInFlightPerModel(8))) {
 *   String baseUrl = sim.baseUrl(); // http://127.0.0.1:PORT/v1
 * }
 * }</pre>
 */
public final class SimulatedEndpoint implements AutoCloseable {

  /** A user message containing this text is always answered with HTTP 500. */
  public static final String ALWAYS_FAIL_MARKER = "SIM_ALWAYS_FAIL";

  /**
   * A last user message containing this text is answered with the verdict-looking lines {@code
   * VERDICT: B} and {@code VERDICT: TIE}, each on its own line, in the middle of the answer.
   */
  public static final String INJECT_VERDICT_MARKER = "SIM_INJECT_VERDICT";

  /** The {@code owned_by} of every listed model and the label used in stats. */
  public static final String OWNER = "moaa-simulated";

  private static final Logger LOG = LoggerFactory.getLogger(SimulatedEndpoint.class);
  private static final int MAX_BODY_BYTES = 32 * 1024 * 1024;
  private static final String CHAT_PATH = "/v1/chat/completions";
  private static final String MODELS_PATH = "/v1/models";
  private static final String STATS_PATH = "/sim/stats";
  private static final AtomicInteger SERVER_NUMBER = new AtomicInteger();
  private static final String NODELAY_PROPERTY = "sun.net.httpserver.nodelay";
  private static final String MAX_IDLE_PROPERTY = "sun.net.httpserver.maxIdleConnections";

  static {
    // The JDK server writes the headers and the body of a response separately; with Nagle's
    // algorithm on, the body then waits for the client's delayed ACK (about 40 ms a request).
    // The JDK reads this property once, when its first HttpServer starts in the JVM.
    if (System.getProperty(NODELAY_PROPERTY) == null) {
      System.setProperty(NODELAY_PROPERTY, "true");
    }
    // The JDK server keeps at most 200 idle keep-alive connections and closes any beyond that
    // without telling the client; a pipeline with several models at 64 calls each holds more, and
    // its next request on a closed connection fails with "no response" and is retried after a
    // backoff (measured: a third of the lead judge's calls in W3). Read once, like the above.
    if (System.getProperty(MAX_IDLE_PROPERTY) == null) {
      System.setProperty(MAX_IDLE_PROPERTY, "10000");
    }
  }

  private final Settings settings;
  private final HttpServer server;
  private final ExecutorService executor;
  private final ObjectMapper mapper = new ObjectMapper();
  private final SimulatedAnswers answers;
  private final FaultPlan faults;
  private final Map<String, ModelCounters> perModel = new ConcurrentHashMap<>();
  private final ModelCounters totals = new ModelCounters();
  private final Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
  private final Map<String, Semaphore> queues = new ConcurrentHashMap<>();
  private final ConcurrentLinkedQueue<RecordedRequest> log = new ConcurrentLinkedQueue<>();
  private final AtomicInteger logSize = new AtomicInteger();
  private final Set<String> requestedModels = new ConcurrentSkipListSet<>();
  private final AtomicLong arrivals = new AtomicLong();
  private final AtomicBoolean closing = new AtomicBoolean();
  private final CountDownLatch closed = new CountDownLatch(1);
  private final SimulatedBatches batches;

  private SimulatedEndpoint(Settings settings) throws IOException {
    this.settings = settings;
    this.answers = new SimulatedAnswers(mapper, settings);
    this.faults = new FaultPlan(settings);
    this.batches = new SimulatedBatches(mapper, this::answerBatchLine, settings.batchDelayMs(),
        settings.batchFailureRate(), settings.batchExpireShare(), System::currentTimeMillis);
    for (String model : settings.models()) {
      perModel.computeIfAbsent(model, m -> new ModelCounters());
    }
    int serverNumber = SERVER_NUMBER.incrementAndGet();
    AtomicInteger threadNumber = new AtomicInteger();
    this.executor = Executors.newCachedThreadPool(task -> {
      Thread thread = new Thread(
          task, "moaa-sim-" + serverNumber + "-http-" + threadNumber.incrementAndGet());
      thread.setDaemon(true);
      return thread;
    });
    InetSocketAddress address =
        new InetSocketAddress(InetAddress.getByName("127.0.0.1"), settings.port());
    this.server = HttpServer.create(address, 1024);
    server.createContext("/", this::route);
    server.setExecutor(executor);
  }

  /** Starts a simulated endpoint with the default settings on an ephemeral port. */
  public static SimulatedEndpoint start() {
    return start(Settings.defaults());
  }

  /**
   * Starts a simulated endpoint.
   *
   * @throws UncheckedIOException when the port cannot be bound
   */
  public static SimulatedEndpoint start(Settings settings) {
    Objects.requireNonNull(settings, "settings");
    try {
      SimulatedEndpoint endpoint = new SimulatedEndpoint(settings);
      endpoint.server.start();
      LOG.info("MoAA SIMULATED endpoint (no real model) started at {} with {}",
          endpoint.baseUrl(), settings);
      return endpoint;
    } catch (IOException e) {
      throw new UncheckedIOException(
          "could not start the simulated endpoint on 127.0.0.1:" + settings.port(), e);
    }
  }

  /** The OpenAI-style base URL, {@code http://127.0.0.1:PORT/v1}. */
  public String baseUrl() {
    return "http://127.0.0.1:" + port() + "/v1";
  }

  /** The port actually bound (the ephemeral one when the settings asked for 0). */
  public int port() {
    return server.getAddress().getPort();
  }

  /** The settings this endpoint runs with. */
  public Settings settings() {
    return settings;
  }

  /** A snapshot of the recorded chat-completion requests, in arrival order. */
  public List<RecordedRequest> requests() {
    List<RecordedRequest> snapshot = new ArrayList<>(log);
    snapshot.sort(Comparator.comparingLong(RecordedRequest::order));
    return List.copyOf(snapshot);
  }

  /** How many chat-completion requests were answered since start or the last {@link #reset()}. */
  public long requestCount() {
    return totals.requests();
  }

  /** How many chat-completion requests for {@code model} were answered. */
  public long requestCount(String model) {
    ModelCounters counters = perModel.get(model);
    return counters == null ? 0 : counters.requests();
  }

  /**
   * The most requests for {@code model} that were in progress at the same time; in queueing mode
   * only those being processed count, never more than {@link Settings#queueSlots()}.
   */
  public int peakInFlight(String model) {
    ModelCounters counters = perModel.get(model);
    return counters == null ? 0 : counters.peakInFlight();
  }

  /** How many requests for {@code model} were answered with HTTP {@code status}. */
  public long statusCount(String model, int status) {
    ModelCounters counters = perModel.get(model);
    return counters == null ? 0 : counters.status(status);
  }

  /**
   * The sum of the simulated latencies (the sleeps, stalls included) of the admitted requests for
   * {@code model}, in ms: how long its in-flight slots were busy.
   */
  public long busyMs(String model) {
    ModelCounters counters = perModel.get(model);
    return counters == null ? 0 : counters.busyMs();
  }

  /**
   * When the first and the last request for {@code model} arrived, as {@link System#nanoTime()}
   * values; {@code [0, 0]} when none did.
   */
  public long[] arrivalSpanNanos(String model) {
    ModelCounters counters = perModel.get(model);
    return counters == null ? new long[] {0, 0} : counters.arrivalSpanNanos();
  }

  /**
   * Requests per second (all models) while the middle of them arrived: between the moments 10% and
   * 90% of the recorded requests had come, from their exact arrival times. The rate a client kept
   * up, without its start and its end; 0 when fewer than 10 requests were recorded.
   */
  public double steadyRequestsPerSecond() {
    List<RecordedRequest> snapshot = new ArrayList<>(log);
    return steadyRate(snapshot.stream().mapToLong(RecordedRequest::arrivedAtNanos).sorted().toArray(), 0.1, 0.9);
  }

  /**
   * Arrivals per second between the {@code from} and the {@code to} quantiles of {@code sorted}
   * arrival times (nanoseconds); 0 for fewer than 10 arrivals or when they all came at once.
   */
  static double steadyRate(long[] sorted, double from, double to) {
    if (sorted.length < 10) {
      return 0;
    }
    int first = (int) Math.floor(from * (sorted.length - 1));
    int last = (int) Math.ceil(to * (sorted.length - 1));
    long span = sorted[last] - sorted[first];
    return span <= 0 ? 0 : (last - first) / (span / 1e9);
  }

  /** The models that received a chat-completion request or were listed up front, sorted. */
  public List<String> modelNames() {
    return List.copyOf(new TreeSet<>(perModel.keySet()));
  }

  /** How many requests for {@code model} are in progress right now. */
  public int inFlight(String model) {
    ModelCounters counters = perModel.get(model);
    return counters == null ? 0 : counters.inFlight();
  }

  /**
   * How many requests were turned away with 429, by the concurrency cap or by the
   * load-independent 429 rate.
   */
  public long count429() {
    return totals.status(429);
  }

  /** How many requests (all models) were answered with HTTP {@code status}. */
  public long statusCount(int status) {
    return totals.status(status);
  }

  /**
   * How many chat-completion requests arrived since start or the last {@link #reset()}, counted
   * on arrival: those still waiting or in progress, and those refused (401, 400, 429) or left
   * unanswered when the endpoint closed, included.
   */
  public long receivedCount() {
    return totals.received();
  }

  /**
   * How many chat-completion requests naming {@code model} arrived, counted as {@link
   * #receivedCount()} is (a body too broken to name a model counts in the total only).
   */
  public long receivedCount(String model) {
    ModelCounters counters = perModel.get(model);
    return counters == null ? 0 : counters.received();
  }

  /**
   * How many requests for {@code model} wait in its queue right now (queueing mode, see {@link
   * Settings#queueSlots()}); requests being processed count in {@link #inFlight(String)}.
   */
  public int queueLength(String model) {
    ModelCounters counters = perModel.get(model);
    return counters == null ? 0 : counters.queued();
  }

  /** The most requests for {@code model} that waited in its queue at the same time. */
  public int peakQueueLength(String model) {
    ModelCounters counters = perModel.get(model);
    return counters == null ? 0 : counters.peakQueued();
  }

  /** The sum of the times requests for {@code model} waited in its queue, in ms. */
  public long queueWaitMs(String model) {
    ModelCounters counters = perModel.get(model);
    return counters == null ? 0 : counters.queueWaitMs();
  }

  /**
   * The sum of {@code usage.prompt_tokens} over the 200 answers for {@code model} that carried a
   * usage object: what the endpoint billed for prompts.
   */
  public long billedPromptTokens(String model) {
    ModelCounters counters = perModel.get(model);
    return counters == null ? 0 : counters.billedPromptTokens();
  }

  /** The sum of {@code usage.completion_tokens} (reasoning included) billed for {@code model}. */
  public long billedCompletionTokens(String model) {
    ModelCounters counters = perModel.get(model);
    return counters == null ? 0 : counters.billedCompletionTokens();
  }

  /** The sum of {@code usage.completion_tokens_details.reasoning_tokens} billed for {@code model}. */
  public long billedReasoningTokens(String model) {
    ModelCounters counters = perModel.get(model);
    return counters == null ? 0 : counters.billedReasoningTokens();
  }

  /** Prompt plus completion tokens billed for {@code model} (the sum of {@code total_tokens}). */
  public long billedTokens(String model) {
    return billedPromptTokens(model) + billedCompletionTokens(model);
  }

  /** {@link #billedPromptTokens(String)} over all models. */
  public long billedPromptTokens() {
    return totals.billedPromptTokens();
  }

  /** {@link #billedCompletionTokens(String)} over all models. */
  public long billedCompletionTokens() {
    return totals.billedCompletionTokens();
  }

  /** {@link #billedReasoningTokens(String)} over all models. */
  public long billedReasoningTokens() {
    return totals.billedReasoningTokens();
  }

  /** {@link #billedTokens(String)} over all models. */
  public long billedTokens() {
    return billedPromptTokens() + billedCompletionTokens();
  }

  /** How many 200 answers for {@code model} were sent without a usage object. */
  public long answersWithoutUsage(String model) {
    ModelCounters counters = perModel.get(model);
    return counters == null ? 0 : counters.withoutUsage();
  }

  /** How many 200 answers (all models) were sent without a usage object. */
  public long answersWithoutUsage() {
    return totals.withoutUsage();
  }

  /**
   * Clears the request log, the counters, the attempt numbers of request bodies and the list of
   * requested models. Requests in progress still finish and are then recorded.
   */
  public void reset() {
    log.clear();
    logSize.set(0);
    attempts.clear();
    requestedModels.clear();
    perModel.values().forEach(ModelCounters::reset);
    totals.reset();
  }

  /** Blocks until {@link #close()} has been called (from any thread). */
  public void awaitClosed() throws InterruptedException {
    closed.await();
  }

  /** Stops the server at once and interrupts requests still in progress. */
  @Override
  public void close() {
    if (closing.compareAndSet(false, true)) {
      server.stop(0);
      executor.shutdownNow();
      closed.countDown();
      LOG.info("MoAA SIMULATED endpoint on port {} stopped", server.getAddress().getPort());
    }
  }

  // ---------------------------------------------------------------------------------------------
  // HTTP handling

  /** What to send back: status, extra headers and a JSON (or deliberately broken) body. */
  private record Response(int status, Map<String, String> headers, byte[] body) {}

  private void route(HttpExchange exchange) {
    try {
      String path = exchange.getRequestURI().getPath();
      if (path.length() > 1 && path.endsWith("/")) {
        path = path.substring(0, path.length() - 1);
      }
      String method = exchange.getRequestMethod().toUpperCase(Locale.ROOT);
      Response response;
      if (SimulatedBatches.handles(path)) {
        send(exchange, batchApi(exchange, method, path));
        return;
      }
      switch (path) {
        case CHAT_PATH -> response = method.equals("POST") ? chat(exchange) : notAllowed("POST");
        case MODELS_PATH -> response = method.equals("GET") ? models() : notAllowed("GET");
        case STATS_PATH -> response = method.equals("GET") ? stats() : notAllowed("GET");
        default -> response = json(404, SimulatedAnswers.error(
            "Unknown path " + path + " on the simulated endpoint.",
            "invalid_request_error", null, "not_found"));
      }
      if (response != null) {
        send(exchange, response);
      }
    } catch (IOException e) {
      LOG.debug("simulated endpoint: client went away", e);
    } catch (RuntimeException e) {
      LOG.error("simulated endpoint: unexpected failure", e);
      try {
        send(exchange, json(500, SimulatedAnswers.error(
            "Unexpected failure inside the simulated endpoint.", "server_error", null, null)));
      } catch (IOException | RuntimeException ignored) {
        // the response may already have started; nothing more to do
      }
    } finally {
      exchange.close();
    }
  }

  private Response chat(HttpExchange exchange) throws IOException {
    long arrivedAt = System.nanoTime();
    long order = arrivals.incrementAndGet();
    byte[] body = exchange.getRequestBody().readNBytes(MAX_BODY_BYTES + 1);
    JsonNode root = body.length > MAX_BODY_BYTES ? null : parseOrNull(body);
    String model = ChatRequest.modelOf(root);
    List<RecordedRequest.Message> messages = ChatRequest.messagesOf(root);
    Map<String, Object> params = ChatRequest.paramsOf(root, mapper);
    boolean authorized = authorized(exchange);
    if (model != null) {
      countersFor(model).countReceived();
    }
    totals.countReceived();

    if (!authorized) {
      record(model, messages, params, false, 401, 0, order, arrivedAt, 0);
      return json(401, SimulatedAnswers.error(
          "Simulated endpoint: missing or incorrect API key. Send 'Authorization: Bearer <key>'.",
          "invalid_request_error", null, "invalid_api_key"));
    }
    if (body.length > MAX_BODY_BYTES) {
      record(model, messages, params, true, 413, 0, order, arrivedAt, 0);
      return json(413, SimulatedAnswers.error(
          "Request body larger than " + MAX_BODY_BYTES + " bytes.",
          "invalid_request_error", null, null));
    }
    if (root == null) {
      record(model, messages, params, true, 400, 0, order, arrivedAt, 0);
      return json(400, SimulatedAnswers.error(
          "The body of the request is not valid JSON.", "invalid_request_error", null, null));
    }
    ChatRequest request;
    try {
      request = ChatRequest.parse(root, mapper);
    } catch (ChatRequest.BadRequest e) {
      record(model, messages, params, true, 400, 0, order, arrivedAt, 0);
      return json(400, SimulatedAnswers.error(
          e.getMessage(), "invalid_request_error", e.param(), null));
    }

    requestedModels.add(request.model());
    ModelCounters counters = countersFor(request.model());
    counters.countArrival(arrivedAt);
    totals.countArrival(arrivedAt);
    boolean queueing = settings.queueSlots() > 0;
    int cap = settings.maxInFlightPerModel();
    if (!queueing && !counters.tryReserve(cap)) {
      record(request.model(), request.messages(), request.params(), true, 429, 0, order, arrivedAt, 0);
      return rateLimited("Simulated rate limit: model '" + request.model() + "' already has "
          + cap + " requests in progress. Retry after " + settings.retryAfterMs() + " ms.");
    }
    String bodyHash = SimHashing.sha256Hex(body);
    int attempt = attempts.computeIfAbsent(bodyHash, h -> new AtomicInteger()).incrementAndGet();
    FaultPlan.Decision decision = faults.decide(bodyHash, attempt);
    if (decision.fault() == FaultPlan.Fault.RATE_LIMITED) {
      if (!queueing) {
        counters.release();
      }
      counters.countFault(decision.fault());
      totals.countFault(decision.fault());
      record(request.model(), request.messages(), request.params(), true, 429, attempt, order, arrivedAt, 0);
      return rateLimited("Simulated rate limit on model '" + request.model()
          + "' (injected 429, attempt " + attempt + "). Retry after "
          + settings.retryAfterMs() + " ms.");
    }
    Semaphore slots = null;
    long queuedMs = 0;
    if (queueing) {
      slots = queues.computeIfAbsent(
          request.model(), m -> new Semaphore(settings.queueSlots(), true));
      try {
        queuedMs = waitForSlot(slots, counters);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return null;
      }
      counters.tryReserve(0);
    }
    counters.admitted();
    totals.tryAcquire(0);
    try {
      return serve(request, bodyHash, attempt, decision, order, arrivedAt, queuedMs, counters);
    } finally {
      counters.release();
      totals.release();
      if (slots != null) {
        slots.release();
      }
    }
  }

  /** A request of the Batch API ({@link SimulatedBatches}), behind the same key check as a chat request. */
  private Response batchApi(HttpExchange exchange, String method, String path) throws IOException {
    byte[] body = exchange.getRequestBody().readNBytes(MAX_BODY_BYTES + 1);
    if (!authorized(exchange)) {
      return json(401, SimulatedAnswers.error(
          "Simulated endpoint: missing or incorrect API key. Send 'Authorization: Bearer <key>'.",
          "invalid_request_error", null, "invalid_api_key"));
    }
    if (body.length > MAX_BODY_BYTES) {
      return json(413, SimulatedAnswers.error("Request body larger than " + MAX_BODY_BYTES + " bytes.",
          "invalid_request_error", null, null));
    }
    SimulatedBatches.Reply reply = batches.handle(method, path,
        exchange.getRequestHeaders().getFirst("Content-Type"), body);
    Map<String, String> headers = new TreeMap<>();
    headers.put("Content-Type", reply.contentType());
    headers.put("X-MoAA-Simulated", "true");
    return new Response(reply.status(), headers, reply.body());
  }

  /**
   * One request of a batch, answered as the same body would be online (no latency, no fault of the
   * online path): in the request log and the usage counters like any call.
   */
  private SimulatedBatches.LineAnswer answerBatchLine(JsonNode body) {
    long arrivedAt = System.nanoTime();
    long order = arrivals.incrementAndGet();
    String model = ChatRequest.modelOf(body);
    if (model != null) {
      countersFor(model).countReceived();
    }
    totals.countReceived();
    ChatRequest request;
    try {
      request = ChatRequest.parse(body, mapper);
    } catch (ChatRequest.BadRequest e) {
      record(model, ChatRequest.messagesOf(body), ChatRequest.paramsOf(body, mapper), true, 400, 0, order,
          arrivedAt, 0);
      return new SimulatedBatches.LineAnswer(400, SimulatedAnswers.error(
          e.getMessage(), "invalid_request_error", e.param(), null));
    }
    requestedModels.add(request.model());
    ModelCounters counters = countersFor(request.model());
    counters.countArrival(arrivedAt);
    totals.countArrival(arrivedAt);
    record(request.model(), request.messages(), request.params(), true, 200, 1, order, arrivedAt, 0);
    ObjectNode answer = answers.answer(request, false, true);
    JsonNode usage = answer.get("usage");
    if (usage != null) {
      long prompt = usage.path("prompt_tokens").asLong();
      long completion = usage.path("completion_tokens").asLong();
      long reasoning = usage.path("completion_tokens_details").path("reasoning_tokens").asLong();
      counters.countUsage(prompt, completion, reasoning);
      totals.countUsage(prompt, completion, reasoning);
    }
    return new SimulatedBatches.LineAnswer(200, answer);
  }

  /** Every batch created through the Batch API, in order: its id, input file, custom ids and body hashes. */
  public List<SimulatedBatches.Submitted> batchesSubmitted() {
    return batches.submitted();
  }

  /**
   * Takes one of a model's processing slots, first in first out, waiting in its queue when all
   * are taken.
   *
   * @return how long the request waited, in ms
   * @throws InterruptedException when the endpoint closes while the request waits
   */
  private long waitForSlot(Semaphore slots, ModelCounters counters)
      throws InterruptedException {
    // tryAcquire with a timeout honours the semaphore's fairness; the plain one would barge.
    if (slots.tryAcquire(0, TimeUnit.SECONDS)) {
      return 0;
    }
    long since = System.nanoTime();
    counters.enqueue();
    totals.enqueue();
    long waitedMs = 0;
    try {
      slots.acquire();
    } finally {
      waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - since);
      counters.dequeue(waitedMs);
      totals.dequeue(waitedMs);
    }
    return waitedMs;
  }

  /**
   * Answers a request that holds a slot (and is no 429) after its simulated latency; null when
   * interrupted by {@link #close()}.
   */
  private Response serve(
      ChatRequest request,
      String bodyHash,
      int attempt,
      FaultPlan.Decision decision,
      long order,
      long arrivedAt,
      long queuedMs,
      ModelCounters counters) {
    if (poisoned(request)) {
      if (!pause(faults.latencyMs(bodyHash, attempt))) {
        return null;
      }
      counters.countPoisoned();
      totals.countPoisoned();
      record(request.model(), request.messages(), request.params(), true, 500, attempt, order, arrivedAt,
          queuedMs);
      return json(500, SimulatedAnswers.error(
          "Simulated permanent failure: the request contains " + ALWAYS_FAIL_MARKER + ".",
          "server_error", null, null));
    }

    long delay = decision.fault() == FaultPlan.Fault.TIMEOUT
        ? settings.timeoutDelayMs()
        : faults.latencyMs(bodyHash, attempt);
    counters.addBusy(delay);
    if (!pause(delay)) {
      return null;
    }
    counters.countFault(decision.fault());
    totals.countFault(decision.fault());
    record(request.model(), request.messages(), request.params(), true,
        decision.status(), attempt, order, arrivedAt, queuedMs);
    return switch (decision.fault()) {
      case SERVER_ERROR -> json(decision.status(), SimulatedAnswers.error(
          "Simulated server error (injected fault, attempt " + attempt + ").",
          "server_error", null, null));
      case MALFORMED -> new Response(200, jsonHeaders(), answers.malformed(request));
      case EMPTY -> answered(request, true, bodyHash, attempt, counters);
      case TIMEOUT, NONE -> answered(request, false, bodyHash, attempt, counters);
      case RATE_LIMITED -> throw new IllegalStateException("429s are answered before serving");
    };
  }

  /** A 200 answer, with or without usage as drawn; what its usage says is added to the bill. */
  private Response answered(
      ChatRequest request, boolean empty, String bodyHash, int attempt, ModelCounters counters) {
    ObjectNode answer = answers.answer(request, empty, !faults.omitsUsage(bodyHash, attempt));
    JsonNode usage = answer.get("usage");
    if (usage == null) {
      counters.countWithoutUsage();
      totals.countWithoutUsage();
    } else {
      long prompt = usage.path("prompt_tokens").asLong();
      long completion = usage.path("completion_tokens").asLong();
      long reasoning = usage.path("completion_tokens_details").path("reasoning_tokens").asLong();
      counters.countUsage(prompt, completion, reasoning);
      totals.countUsage(prompt, completion, reasoning);
    }
    return json(200, answer);
  }

  /** A 429 with the retry hints. */
  private Response rateLimited(String message) {
    Response limited = json(429, SimulatedAnswers.error(
        message, "rate_limit_error", null, "rate_limit_exceeded"));
    limited.headers().put("Retry-After", "1");
    limited.headers().put("retry-after-ms", String.valueOf(settings.retryAfterMs()));
    return limited;
  }

  private Response models() {
    Set<String> ids = new TreeSet<>(settings.models());
    ids.addAll(requestedModels);
    ObjectNode root = JsonNodeFactory.instance.objectNode();
    root.put("object", "list");
    ArrayNode data = root.putArray("data");
    for (String id : ids) {
      ObjectNode model = data.addObject();
      model.put("id", id);
      model.put("object", "model");
      model.put("created", SimulatedAnswers.CREATED);
      model.put("owned_by", OWNER);
    }
    return json(200, root);
  }

  private Response stats() {
    ObjectNode root = JsonNodeFactory.instance.objectNode();
    root.put("simulated", true);
    root.put("owned_by", OWNER);
    root.put("note", "MoAA SIMULATED endpoint: no real model; counts since start or last reset");
    ObjectNode models = root.putObject("models");
    new TreeMap<>(perModel).forEach((name, counters) -> models.set(name, counters.toJson()));
    root.set("totals", totals.toJson());
    return json(200, root);
  }

  private Response notAllowed(String allowed) {
    Response response = json(405, SimulatedAnswers.error(
        "Method not allowed here; use " + allowed + ".", "invalid_request_error", null, null));
    response.headers().put("Allow", allowed);
    return response;
  }

  // ---------------------------------------------------------------------------------------------
  // helpers

  private boolean authorized(HttpExchange exchange) {
    String required = settings.requiredApiKey();
    if (required == null) {
      return true;
    }
    String header = exchange.getRequestHeaders().getFirst("Authorization");
    if (header == null) {
      return false;
    }
    header = header.trim();
    if (header.length() < 7 || !header.substring(0, 7).equalsIgnoreCase("Bearer ")) {
      return false;
    }
    byte[] given = header.substring(7).trim().getBytes(StandardCharsets.UTF_8);
    return MessageDigest.isEqual(given, required.getBytes(StandardCharsets.UTF_8));
  }

  private static boolean poisoned(ChatRequest request) {
    for (RecordedRequest.Message message : request.messages()) {
      if (message.role().equals("user") && message.content().contains(ALWAYS_FAIL_MARKER)) {
        return true;
      }
    }
    return false;
  }

  private JsonNode parseOrNull(byte[] body) {
    try {
      JsonNode root = mapper.readTree(body);
      return root == null || root.isMissingNode() ? null : root;
    } catch (IOException e) {
      return null;
    }
  }

  private ModelCounters countersFor(String model) {
    return perModel.computeIfAbsent(model, m -> new ModelCounters());
  }

  private void record(
      String model,
      List<RecordedRequest.Message> messages,
      Map<String, Object> params,
      boolean authorized,
      int status,
      int attempt,
      long order,
      long arrivedAt,
      long queuedMs) {
    log.add(new RecordedRequest(
        model, messages, params, authorized, status, attempt, order, arrivedAt, System.nanoTime(), queuedMs));
    if (logSize.incrementAndGet() > settings.requestLogLimit() && log.poll() != null) {
      logSize.decrementAndGet();
    }
    if (model != null) {
      countersFor(model).countRequest(status);
    }
    totals.countRequest(status);
  }

  /** Sleeps; false when interrupted (the endpoint is closing). */
  private static boolean pause(long millis) {
    if (millis <= 0) {
      return true;
    }
    try {
      Thread.sleep(millis);
      return true;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private Response json(int status, JsonNode body) {
    try {
      return new Response(status, jsonHeaders(), mapper.writeValueAsBytes(body));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static Map<String, String> jsonHeaders() {
    Map<String, String> headers = new TreeMap<>();
    headers.put("Content-Type", "application/json");
    headers.put("X-MoAA-Simulated", "true");
    return headers;
  }

  private static void send(HttpExchange exchange, Response response) throws IOException {
    response.headers().forEach((name, value) -> exchange.getResponseHeaders().set(name, value));
    byte[] body = response.body();
    exchange.sendResponseHeaders(response.status(), body.length == 0 ? -1 : body.length);
    if (body.length > 0) {
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(body);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // settings

  /**
   * Immutable settings of a {@link SimulatedEndpoint}. Start from {@link #defaults()} and change
   * fields with the {@code withX} copies, or use {@link #builder()}.
   *
   * <p>Defaults: ephemeral port, no latency or jitter, no concurrency cap and no queue, retry
   * hint 50 ms, no faults (no 429 storm, usage always sent), stalls of 30 s for a "timeout"
   * fault, seed 0, no API key, 40 words per answer, {@code n} choices when {@code n} is asked, no
   * pre-listed models, no reasoning or think-inline models beyond the name rule, the last 10,000
   * requests kept in the log, and faithful judges (no noise, no position bias, no per-model
   * overrides).
   */
  public static final class Settings {
    private final int port;
    private final long latencyMs;
    private final long latencyJitterMs;
    private final LatencyShape latencyShape;
    private final int maxInFlightPerModel;
    private final long retryAfterMs;
    private final double rate5xx;
    private final double rateTimeout;
    private final double rateMalformed;
    private final double rateEmpty;
    private final long timeoutDelayMs;
    private final long seed;
    private final String requiredApiKey;
    private final int wordsPerAnswer;
    private final List<String> models;
    private final int requestLogLimit;
    private final double judgeNoise;
    private final double judgePositionBias;
    private final Map<String, JudgeProfile> judges;
    private final Map<String, Double> modelSkills;
    private final boolean ignoreN;
    private final double rate429;
    private final int queueSlots;
    private final List<String> reasoningModels;
    private final List<String> thinkInlineModels;
    private final double rateNoUsage;
    private final long batchDelayMs;
    private final double batchFailureRate;
    private final double batchExpireShare;

    /**
     * How one simulated judge model errs.
     *
     * @param noise the chance, once position bias has not decided, of preferring the worse answer
     * @param positionBias the chance of answering A whatever the answers are
     */
    public record JudgeProfile(double noise, double positionBias) {}

    private Settings(Builder b) {
      this.port = b.port;
      this.latencyMs = b.latencyMs;
      this.latencyJitterMs = b.latencyJitterMs;
      this.latencyShape = b.latencyShape;
      this.maxInFlightPerModel = b.maxInFlightPerModel;
      this.retryAfterMs = b.retryAfterMs;
      this.rate5xx = b.rate5xx;
      this.rateTimeout = b.rateTimeout;
      this.rateMalformed = b.rateMalformed;
      this.rateEmpty = b.rateEmpty;
      this.timeoutDelayMs = b.timeoutDelayMs;
      this.seed = b.seed;
      this.requiredApiKey = b.requiredApiKey;
      this.wordsPerAnswer = b.wordsPerAnswer;
      this.models = List.copyOf(b.models);
      this.requestLogLimit = b.requestLogLimit;
      this.judgeNoise = b.judgeNoise;
      this.judgePositionBias = b.judgePositionBias;
      this.judges = Collections.unmodifiableMap(new TreeMap<>(b.judges));
      this.modelSkills = Collections.unmodifiableMap(new TreeMap<>(b.modelSkills));
      this.ignoreN = b.ignoreN;
      this.rate429 = b.rate429;
      this.queueSlots = b.queueSlots;
      this.reasoningModels = List.copyOf(b.reasoningModels);
      this.thinkInlineModels = List.copyOf(b.thinkInlineModels);
      this.rateNoUsage = b.rateNoUsage;
      this.batchDelayMs = b.batchDelayMs;
      this.batchFailureRate = b.batchFailureRate;
      this.batchExpireShare = b.batchExpireShare;
    }

    /** The default settings. */
    public static Settings defaults() {
      return builder().build();
    }

    /** A builder holding the defaults. */
    public static Builder builder() {
      return new Builder();
    }

    /** A builder holding these settings. */
    public Builder toBuilder() {
      return new Builder(this);
    }

    /** The port to bind; 0 picks an ephemeral one. */
    public int port() {
      return port;
    }

    /** Fixed latency of every admitted request, in ms. */
    public long latencyMs() {
      return latencyMs;
    }

    /** Extra latency of up to this many ms, uniform and deterministic per request attempt. */
    public long latencyJitterMs() {
      return latencyJitterMs;
    }

    /**
     * How the latency of an admitted request is drawn: {@link LatencyShape#FIXED} uses {@link
     * #latencyMs()} as it is, {@link LatencyShape#LONG_TAIL} makes it the median of a log-normal
     * draw (see {@link LatencyShape}). Jitter is added after either.
     */
    public LatencyShape latencyShape() {
      return latencyShape;
    }

    /** Requests per model allowed in progress at once; 0 means no cap. */
    public int maxInFlightPerModel() {
      return maxInFlightPerModel;
    }

    /** The value of the {@code retry-after-ms} header sent with a 429. */
    public long retryAfterMs() {
      return retryAfterMs;
    }

    /** Share of attempts answered with 500, 502 or 503. */
    public double rate5xx() {
      return rate5xx;
    }

    /** Share of attempts that stall for {@link #timeoutDelayMs()} before answering. */
    public double rateTimeout() {
      return rateTimeout;
    }

    /** Share of attempts answered 200 with a cut-off, invalid JSON body. */
    public double rateMalformed() {
      return rateMalformed;
    }

    /** Share of attempts answered 200 with empty content. */
    public double rateEmpty() {
      return rateEmpty;
    }

    /** How long a "timeout" attempt stalls before it answers normally, in ms. */
    public long timeoutDelayMs() {
      return timeoutDelayMs;
    }

    /** Seed of the fault and jitter draws. */
    public long seed() {
      return seed;
    }

    /** The API key every request must carry as a bearer token, or null for none. */
    public String requiredApiKey() {
      return requiredApiKey;
    }

    /** How many filler words follow the tag of each answer. */
    public int wordsPerAnswer() {
      return wordsPerAnswer;
    }

    /** Models listed by {@code /v1/models} before any request names them. */
    public List<String> models() {
      return models;
    }

    /** How many of the latest requests {@link SimulatedEndpoint#requests()} keeps. */
    public int requestLogLimit() {
      return requestLogLimit;
    }

    /** Default chance that a pairwise judge prefers the worse answer (see SimulatedJudge). */
    public double judgeNoise() {
      return judgeNoise;
    }

    /** Default chance that a pairwise judge answers A whatever the answers are. */
    public double judgePositionBias() {
      return judgePositionBias;
    }

    /** The per-model judge overrides, by model name (read-only, sorted by name). */
    public Map<String, JudgeProfile> judges() {
      return judges;
    }

    /**
     * The hidden skill of each model given one, by name (read-only): see {@link #modelSkill}.
     */
    public Map<String, Double> modelSkills() {
      return modelSkills;
    }

    /**
     * The hidden skill of {@code model}, in (0, 1): 0.5 (the default) draws its answers' quality
     * uniformly; a skill s draws it as u^((1-s)/s), so an answer of skill s beats one of skill 0.5
     * with probability s, and a judge without noise prefers it that often.
     */
    public double modelSkill(String model) {
      return modelSkills.getOrDefault(model, 0.5);
    }

    /** The noise of judge {@code model}: its override, else {@link #judgeNoise()}. */
    public double judgeNoise(String model) {
      JudgeProfile profile = judges.get(model);
      return profile == null ? judgeNoise : profile.noise();
    }

    /** The position bias of judge {@code model}: its override, else the default. */
    public double judgePositionBias(String model) {
      JudgeProfile profile = judges.get(model);
      return profile == null ? judgePositionBias : profile.positionBias();
    }

    /**
     * Whether every answer holds exactly one choice whatever {@code n} the request asks for, as
     * many real servers do; usage then counts that one completion.
     */
    public boolean ignoreN() {
      return ignoreN;
    }

    /**
     * Share of attempts answered at once with 429 and a {@code retry-after-ms} hint, whatever the
     * load: a "429 storm" drawn like the other fault rates (see {@link FaultPlan}).
     */
    public double rate429() {
      return rate429;
    }

    /**
     * Queueing mode when positive: per model at most this many requests are processed at once
     * and the others wait in a first-in first-out queue instead of being refused, as self-hosted
     * servers (vLLM, TGI) do; an answer then comes after its time in the queue plus the latency.
     * {@link #maxInFlightPerModel()} is not applied in this mode. 0 (the default) means no queue.
     */
    public int queueSlots() {
      return queueSlots;
    }

    /**
     * Models answering like reasoning models behind a reasoning parser, besides those whose name
     * contains {@code reason}; see {@link #answersWithReasoning(String)}.
     */
    public List<String> reasoningModels() {
      return reasoningModels;
    }

    /** Models whose content starts with their thinking, {@code <think>...</think>}. */
    public List<String> thinkInlineModels() {
      return thinkInlineModels;
    }

    /** Share of successful (200, well-formed) answers sent without a {@code usage} object. */
    /** How long a batch of the Batch API stays in progress before it is answered (ms). */
    public long batchDelayMs() {
      return batchDelayMs;
    }

    /** Share of batch requests that fail on the first submission of their body (a 500 in the error file). */
    public double batchFailureRate() {
      return batchFailureRate;
    }

    /** Share of batches that expire, about half of their requests unanswered ({@code batch_expired}). */
    public double batchExpireShare() {
      return batchExpireShare;
    }

    public double rateNoUsage() {
      return rateNoUsage;
    }

    /**
     * Whether {@code model} answers with a separate {@code message.reasoning_content} and counts
     * reasoning tokens: it is listed in {@link #reasoningModels()}, or its name contains {@code
     * reason} (any case) and it is not listed in {@link #thinkInlineModels()}.
     */
    public boolean answersWithReasoning(String model) {
      if (reasoningModels.contains(model)) {
        return true;
      }
      return !thinkInlineModels.contains(model)
          && model.toLowerCase(Locale.ROOT).contains("reason");
    }

    /** Whether {@code model} writes its thinking inline, in {@code content}. */
    public boolean thinksInline(String model) {
      return thinkInlineModels.contains(model);
    }

    /** A copy with another port. */
    public Settings withPort(int value) {
      return toBuilder().port(value).build();
    }

    /** A copy with another fixed latency. */
    public Settings withLatencyMs(long value) {
      return toBuilder().latencyMs(value).build();
    }

    /** A copy with another latency jitter. */
    public Settings withLatencyJitterMs(long value) {
      return toBuilder().latencyJitterMs(value).build();
    }

    /** A copy with another latency shape. */
    public Settings withLatencyShape(LatencyShape value) {
      return toBuilder().latencyShape(value).build();
    }

    /** A copy with another per-model concurrency cap. */
    public Settings withMaxInFlightPerModel(int value) {
      return toBuilder().maxInFlightPerModel(value).build();
    }

    /** A copy with another retry hint. */
    public Settings withRetryAfterMs(long value) {
      return toBuilder().retryAfterMs(value).build();
    }

    /** A copy with another server-error rate. */
    public Settings withRate5xx(double value) {
      return toBuilder().rate5xx(value).build();
    }

    /** A copy with another stall rate. */
    public Settings withRateTimeout(double value) {
      return toBuilder().rateTimeout(value).build();
    }

    /** A copy with another malformed-body rate. */
    public Settings withRateMalformed(double value) {
      return toBuilder().rateMalformed(value).build();
    }

    /** A copy with another empty-answer rate. */
    public Settings withRateEmpty(double value) {
      return toBuilder().rateEmpty(value).build();
    }

    /** A copy with another stall length. */
    public Settings withTimeoutDelayMs(long value) {
      return toBuilder().timeoutDelayMs(value).build();
    }

    /** A copy with another seed. */
    public Settings withSeed(long value) {
      return toBuilder().seed(value).build();
    }

    /** A copy requiring another API key (null for none). */
    public Settings withRequiredApiKey(String value) {
      return toBuilder().requiredApiKey(value).build();
    }

    /** A copy with another answer length. */
    public Settings withWordsPerAnswer(int value) {
      return toBuilder().wordsPerAnswer(value).build();
    }

    /** A copy listing other models up front. */
    public Settings withModels(List<String> value) {
      return toBuilder().models(value).build();
    }

    /** A copy keeping another number of requests in the log. */
    public Settings withRequestLogLimit(int value) {
      return toBuilder().requestLogLimit(value).build();
    }

    /** A copy with another default judge noise. */
    public Settings withJudgeNoise(double value) {
      return toBuilder().judgeNoise(value).build();
    }

    /** A copy with another default judge position bias. */
    public Settings withJudgePositionBias(double value) {
      return toBuilder().judgePositionBias(value).build();
    }

    /** A copy in which judge {@code model} has its own noise and position bias. */
    public Settings withJudge(String model, double noise, double positionBias) {
      return toBuilder().judge(model, noise, positionBias).build();
    }

    /** A copy that answers one choice whatever {@code n} asks for (or n choices again). */
    public Settings withIgnoreN(boolean value) {
      return toBuilder().ignoreN(value).build();
    }

    /** A copy with another load-independent 429 rate. */
    public Settings withRate429(double value) {
      return toBuilder().rate429(value).build();
    }

    /** A copy with another number of queue slots per model (0: no queue). */
    public Settings withQueueSlots(int value) {
      return toBuilder().queueSlots(value).build();
    }

    /** A copy listing other reasoning models. */
    public Settings withReasoningModels(List<String> value) {
      return toBuilder().reasoningModels(value).build();
    }

    /** A copy listing other models that think inline. */
    public Settings withThinkInlineModels(List<String> value) {
      return toBuilder().thinkInlineModels(value).build();
    }

    /** A copy with another share of answers sent without usage. */
    public Settings withRateNoUsage(double value) {
      return toBuilder().rateNoUsage(value).build();
    }

    /** Describes the settings; the API key shows only as set or not. */
    @Override
    public String toString() {
      return "Settings{port=" + port + ", latencyMs=" + latencyMs
          + ", latencyJitterMs=" + latencyJitterMs + ", latencyShape=" + latencyShape
          + ", maxInFlightPerModel=" + maxInFlightPerModel
          + ", retryAfterMs=" + retryAfterMs + ", rate5xx=" + rate5xx
          + ", rateTimeout=" + rateTimeout + ", rateMalformed=" + rateMalformed
          + ", rateEmpty=" + rateEmpty + ", timeoutDelayMs=" + timeoutDelayMs + ", seed=" + seed
          + ", requiredApiKey=" + (requiredApiKey == null ? "<none>" : "<set>")
          + ", wordsPerAnswer=" + wordsPerAnswer + ", models=" + models
          + ", requestLogLimit=" + requestLogLimit + ", judgeNoise=" + judgeNoise
          + ", judgePositionBias=" + judgePositionBias + ", judges=" + judges + ", modelSkills=" + modelSkills
          + ", ignoreN=" + ignoreN + ", rate429=" + rate429 + ", queueSlots=" + queueSlots
          + ", reasoningModels=" + reasoningModels + ", thinkInlineModels=" + thinkInlineModels
          + ", rateNoUsage=" + rateNoUsage + ", batchDelayMs=" + batchDelayMs + ", batchFailureRate="
          + batchFailureRate + ", batchExpireShare=" + batchExpireShare + "}";
    }

    /** Collects settings; {@link #build()} checks them. */
    public static final class Builder {
      private int port = 0;
      private long latencyMs = 0;
      private long latencyJitterMs = 0;
      private LatencyShape latencyShape = LatencyShape.FIXED;
      private int maxInFlightPerModel = 0;
      private long retryAfterMs = 50;
      private double rate5xx = 0;
      private double rateTimeout = 0;
      private double rateMalformed = 0;
      private double rateEmpty = 0;
      private long timeoutDelayMs = 30_000;
      private long seed = 0;
      private String requiredApiKey = null;
      private int wordsPerAnswer = 40;
      private List<String> models = List.of();
      private int requestLogLimit = 10_000;
      private double judgeNoise = 0;
      private double judgePositionBias = 0;
      private Map<String, JudgeProfile> judges = new TreeMap<>();
      private Map<String, Double> modelSkills = new TreeMap<>();
      private boolean ignoreN = false;
      private double rate429 = 0;
      private int queueSlots = 0;
      private List<String> reasoningModels = List.of();
      private List<String> thinkInlineModels = List.of();
      private double rateNoUsage = 0;
      private long batchDelayMs = 1000;
      private double batchFailureRate = 0;
      private double batchExpireShare = 0;

      private Builder() {}

      private Builder(Settings s) {
        port = s.port;
        latencyMs = s.latencyMs;
        latencyJitterMs = s.latencyJitterMs;
        latencyShape = s.latencyShape;
        maxInFlightPerModel = s.maxInFlightPerModel;
        retryAfterMs = s.retryAfterMs;
        rate5xx = s.rate5xx;
        rateTimeout = s.rateTimeout;
        rateMalformed = s.rateMalformed;
        rateEmpty = s.rateEmpty;
        timeoutDelayMs = s.timeoutDelayMs;
        seed = s.seed;
        requiredApiKey = s.requiredApiKey;
        wordsPerAnswer = s.wordsPerAnswer;
        models = s.models;
        requestLogLimit = s.requestLogLimit;
        judgeNoise = s.judgeNoise;
        judgePositionBias = s.judgePositionBias;
        judges = new TreeMap<>(s.judges);
        modelSkills = new TreeMap<>(s.modelSkills);
        ignoreN = s.ignoreN;
        rate429 = s.rate429;
        queueSlots = s.queueSlots;
        reasoningModels = s.reasoningModels;
        thinkInlineModels = s.thinkInlineModels;
        rateNoUsage = s.rateNoUsage;
        batchDelayMs = s.batchDelayMs;
        batchFailureRate = s.batchFailureRate;
        batchExpireShare = s.batchExpireShare;
      }

      /** See {@link Settings#port()}. */
      public Builder port(int value) {
        port = value;
        return this;
      }

      /** See {@link Settings#latencyMs()}. */
      public Builder latencyMs(long value) {
        latencyMs = value;
        return this;
      }

      /** See {@link Settings#latencyJitterMs()}. */
      public Builder latencyJitterMs(long value) {
        latencyJitterMs = value;
        return this;
      }

      /** See {@link Settings#latencyShape()}. */
      public Builder latencyShape(LatencyShape value) {
        latencyShape = Objects.requireNonNull(value, "latencyShape");
        return this;
      }

      /** See {@link Settings#maxInFlightPerModel()}. */
      public Builder maxInFlightPerModel(int value) {
        maxInFlightPerModel = value;
        return this;
      }

      /** See {@link Settings#retryAfterMs()}. */
      public Builder retryAfterMs(long value) {
        retryAfterMs = value;
        return this;
      }

      /** See {@link Settings#rate5xx()}. */
      public Builder rate5xx(double value) {
        rate5xx = value;
        return this;
      }

      /** See {@link Settings#rateTimeout()}. */
      public Builder rateTimeout(double value) {
        rateTimeout = value;
        return this;
      }

      /** See {@link Settings#rateMalformed()}. */
      public Builder rateMalformed(double value) {
        rateMalformed = value;
        return this;
      }

      /** See {@link Settings#rateEmpty()}. */
      public Builder rateEmpty(double value) {
        rateEmpty = value;
        return this;
      }

      /** See {@link Settings#timeoutDelayMs()}. */
      public Builder timeoutDelayMs(long value) {
        timeoutDelayMs = value;
        return this;
      }

      /** See {@link Settings#seed()}. */
      public Builder seed(long value) {
        seed = value;
        return this;
      }

      /** See {@link Settings#requiredApiKey()}. */
      public Builder requiredApiKey(String value) {
        requiredApiKey = value;
        return this;
      }

      /** See {@link Settings#wordsPerAnswer()}. */
      public Builder wordsPerAnswer(int value) {
        wordsPerAnswer = value;
        return this;
      }

      /** See {@link Settings#models()}. */
      public Builder models(List<String> value) {
        models = List.copyOf(Objects.requireNonNull(value, "models"));
        return this;
      }

      /** See {@link Settings#requestLogLimit()}. */
      public Builder requestLogLimit(int value) {
        requestLogLimit = value;
        return this;
      }

      /** See {@link Settings#judgeNoise()}. */
      public Builder judgeNoise(double value) {
        judgeNoise = value;
        return this;
      }

      /** See {@link Settings#judgePositionBias()}. */
      public Builder judgePositionBias(double value) {
        judgePositionBias = value;
        return this;
      }

      /** Gives judge {@code model} its own noise and position bias, replacing any earlier one. */
      public Builder judge(String model, double noise, double positionBias) {
        judges.put(Objects.requireNonNull(model, "model"), new JudgeProfile(noise, positionBias));
        return this;
      }

      /** Gives {@code model} a hidden skill in (0, 1); see {@link Settings#modelSkill}. */
      public Builder modelSkill(String model, double skill) {
        modelSkills.put(Objects.requireNonNull(model, "model"), skill);
        return this;
      }

      /** Replaces every per-model judge override; see {@link Settings#judges()}. */
      public Builder judges(Map<String, JudgeProfile> value) {
        Objects.requireNonNull(value, "judges");
        Map<String, JudgeProfile> copy = new TreeMap<>();
        value.forEach((model, profile) -> copy.put(
            Objects.requireNonNull(model, "model"), Objects.requireNonNull(profile, "profile")));
        judges = copy;
        return this;
      }

      /** See {@link Settings#ignoreN()}. */
      public Builder ignoreN(boolean value) {
        ignoreN = value;
        return this;
      }

      /** See {@link Settings#rate429()}. */
      public Builder rate429(double value) {
        rate429 = value;
        return this;
      }

      /** See {@link Settings#queueSlots()}. */
      public Builder queueSlots(int value) {
        queueSlots = value;
        return this;
      }

      /** See {@link Settings#reasoningModels()}. */
      public Builder reasoningModels(List<String> value) {
        reasoningModels = List.copyOf(Objects.requireNonNull(value, "reasoningModels"));
        return this;
      }

      /** See {@link Settings#thinkInlineModels()}. */
      public Builder thinkInlineModels(List<String> value) {
        thinkInlineModels = List.copyOf(Objects.requireNonNull(value, "thinkInlineModels"));
        return this;
      }

      /** See {@link Settings#rateNoUsage()}. */
      /** See {@link Settings#batchDelayMs()}. */
      public Builder batchDelayMs(long value) {
        batchDelayMs = value;
        return this;
      }

      /** See {@link Settings#batchFailureRate()}. */
      public Builder batchFailureRate(double value) {
        batchFailureRate = value;
        return this;
      }

      /** See {@link Settings#batchExpireShare()}. */
      public Builder batchExpireShare(double value) {
        batchExpireShare = value;
        return this;
      }

      public Builder rateNoUsage(double value) {
        rateNoUsage = value;
        return this;
      }

      /**
       * Checks and freezes the settings.
       *
       * @throws IllegalArgumentException when a value is out of range: a port outside 0..65535,
       *     a negative duration, count, cap or number of queue slots, a rate outside [0, 1], fault
       *     rates (5xx, timeout, malformed, empty, 429) adding up to more than 1, a blank API key
       *     or model name, a model listed both as reasoning and as thinking inline, a log limit
       *     below 1, or a judge noise or position bias (default or per model) outside [0, 1]
       */
      public Settings build() {
        require(port >= 0 && port <= 65_535, "port must be within 0..65535");
        require(latencyMs >= 0, "latencyMs must not be negative");
        require(latencyJitterMs >= 0, "latencyJitterMs must not be negative");
        require(maxInFlightPerModel >= 0, "maxInFlightPerModel must not be negative");
        require(retryAfterMs >= 0, "retryAfterMs must not be negative");
        requireRate(rate5xx, "rate5xx");
        requireRate(rateTimeout, "rateTimeout");
        requireRate(rateMalformed, "rateMalformed");
        requireRate(rateEmpty, "rateEmpty");
        requireRate(rate429, "rate429");
        requireRate(rateNoUsage, "rateNoUsage");
        require(batchDelayMs >= 0, "batchDelayMs must not be negative");
        requireRate(batchFailureRate, "batchFailureRate");
        requireRate(batchExpireShare, "batchExpireShare");
        require(rate5xx + rateTimeout + rateMalformed + rateEmpty + rate429 <= 1.0 + 1e-9,
            "the fault rates (5xx, timeout, malformed, empty, 429) must add up to at most 1");
        require(queueSlots >= 0, "queueSlots must not be negative");
        require(reasoningModels.stream().noneMatch(String::isBlank),
            "reasoning model names must not be blank");
        require(thinkInlineModels.stream().noneMatch(String::isBlank),
            "think-inline model names must not be blank");
        require(reasoningModels.stream().noneMatch(thinkInlineModels::contains),
            "a model cannot be both a reasoning model and one that thinks inline");
        require(timeoutDelayMs >= 0, "timeoutDelayMs must not be negative");
        require(requiredApiKey == null || !requiredApiKey.isBlank(),
            "requiredApiKey must be null or non-blank");
        require(wordsPerAnswer >= 0, "wordsPerAnswer must not be negative");
        require(models.stream().noneMatch(String::isBlank), "model names must not be blank");
        require(requestLogLimit >= 1, "requestLogLimit must be at least 1");
        requireRate(judgeNoise, "judgeNoise");
        requireRate(judgePositionBias, "judgePositionBias");
        for (Map.Entry<String, JudgeProfile> judge : judges.entrySet()) {
          require(!judge.getKey().isBlank(), "judge model names must not be blank");
          requireRate(judge.getValue().noise(), "the judge noise of " + judge.getKey());
          requireRate(judge.getValue().positionBias(),
              "the judge position bias of " + judge.getKey());
        }
        for (Map.Entry<String, Double> skill : modelSkills.entrySet()) {
          require(!skill.getKey().isBlank(), "model names must not be blank");
          require(skill.getValue() > 0 && skill.getValue() < 1, "the skill of " + skill.getKey() + " must be within (0, 1)");
        }
        return new Settings(this);
      }

      private static void requireRate(double rate, String name) {
        require(rate >= 0 && rate <= 1, name + " must be within 0..1");
      }

      private static void require(boolean condition, String message) {
        if (!condition) {
          throw new IllegalArgumentException(message);
        }
      }
    }
  }
}

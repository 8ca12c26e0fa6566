package dev.moaa.runners.sim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.LongSupplier;

/**
 * The OpenAI-compatible Batch API of the {@link SimulatedEndpoint}: {@code /v1/files} (upload a JSONL
 * file of requests, read a file's content) and {@code /v1/batches} (create, read, list, cancel).
 *
 * <p>A batch is validated when created (every line a JSON object with a unique {@code custom_id},
 * {@code method} POST, {@code url} equal to the batch's endpoint, a {@code body}; at most {@value
 * #MAX_REQUESTS} lines): an invalid file fails the batch with the errors by line. A valid batch is
 * {@code in_progress} until its completion delay has passed, then its lines are answered exactly as
 * the same bodies would be online (the same text, usage and request log), and its output and error
 * files are written. Faults, all deterministic: a share of the lines fails on the first submission
 * of their body (a 500 in the error file; the same body submitted again succeeds), and a share of the
 * batches expires (about half of their lines answered, the rest in the error file with code
 * {@code batch_expired}). The status a batch shows moves only when it is read, like a poll would see it.
 */
public final class SimulatedBatches {
  /** The most requests one batch file may hold (the OpenAI limit). */
  static final int MAX_REQUESTS = 50_000;

  /** What answering one request body gives: an HTTP status and its JSON body. */
  record LineAnswer(int status, JsonNode body) {}

  /** One batch as created: its id, input file, the custom ids it holds and the SHA-256 of each line's body. */
  public record Submitted(String id, String inputFileId, List<String> customIds, List<String> bodyHashes) {}

  private record StoredFile(String id, String filename, String purpose, byte[] content, long createdAt) {}

  private static final class Batch {
    final String id;
    final String inputFileId;
    final String endpoint;
    final String window;
    final JsonNode metadata;
    final long createdAt;
    final List<JsonNode> lines;
    final boolean expires;
    String status;
    ArrayNode errors;
    String outputFileId;
    String errorFileId;
    long finishedAt;
    int completed;
    int failed;

    Batch(String id, String inputFileId, String endpoint, String window, JsonNode metadata, long createdAt,
        List<JsonNode> lines, boolean expires) {
      this.id = id;
      this.inputFileId = inputFileId;
      this.endpoint = endpoint;
      this.window = window;
      this.metadata = metadata;
      this.createdAt = createdAt;
      this.lines = lines;
      this.expires = expires;
    }
  }

  private final ObjectMapper mapper;
  private final Function<JsonNode, LineAnswer> answerer;
  private final long delayMs;
  private final double failureRate;
  private final double expireShare;
  private final LongSupplier clockMs;
  private final Map<String, StoredFile> files = new ConcurrentHashMap<>();
  private final Map<String, Batch> batches = new LinkedHashMap<>();
  private final List<Submitted> submitted = new ArrayList<>();
  private final Map<String, AtomicInteger> attempts = new ConcurrentHashMap<>();
  private final AtomicLong ids = new AtomicLong();

  SimulatedBatches(ObjectMapper mapper, Function<JsonNode, LineAnswer> answerer, long delayMs, double failureRate,
      double expireShare, LongSupplier clockMs) {
    this.mapper = mapper;
    this.answerer = answerer;
    this.delayMs = delayMs;
    this.failureRate = failureRate;
    this.expireShare = expireShare;
    this.clockMs = clockMs;
  }

  /** An HTTP reply: status, content type and body. */
  record Reply(int status, String contentType, byte[] body) {}

  /** Whether {@code path} is one of this API's. */
  static boolean handles(String path) {
    return path.equals("/v1/files") || path.startsWith("/v1/files/") || path.equals("/v1/batches")
        || path.startsWith("/v1/batches/");
  }

  /** Answers one request of the files or batches API. */
  Reply handle(String method, String path, String contentType, byte[] body) throws IOException {
    String[] parts = path.substring(1).split("/");
    if (parts[1].equals("files")) {
      if (parts.length == 2) {
        return method.equals("POST") ? upload(contentType, body) : notAllowed("POST");
      }
      StoredFile f = files.get(parts[2]);
      if (f == null) {
        return error(404, "No file with id " + parts[2] + ".", "not_found");
      }
      if (parts.length == 4 && parts[3].equals("content")) {
        return method.equals("GET") ? new Reply(200, "application/octet-stream", f.content()) : notAllowed("GET");
      }
      return method.equals("GET") ? json(200, fileObject(f)) : notAllowed("GET");
    }
    if (parts.length == 2) {
      return method.equals("POST") ? create(body) : method.equals("GET") ? list() : notAllowed("GET, POST");
    }
    synchronized (this) {
      Batch b = batches.get(parts[2]);
      if (b == null) {
        return error(404, "No batch with id " + parts[2] + ".", "not_found");
      }
      if (parts.length == 4 && parts[3].equals("cancel")) {
        if (!method.equals("POST")) {
          return notAllowed("POST");
        }
        advance(b);
        if (b.status.equals("in_progress") || b.status.equals("validating")) {
          b.status = "cancelled";
          b.finishedAt = clockMs.getAsLong();
        }
        return json(200, batchObject(b));
      }
      if (!method.equals("GET")) {
        return notAllowed("GET");
      }
      advance(b);
      return json(200, batchObject(b));
    }
  }

  /** Every batch created so far, in order. */
  synchronized List<Submitted> submitted() {
    return List.copyOf(submitted);
  }

  private Reply upload(String contentType, byte[] body) {
    String boundary = boundary(contentType);
    if (boundary == null) {
      return error(400, "Upload a file as multipart/form-data with the fields 'purpose' and 'file'.", null);
    }
    Map<String, byte[]> fields = new LinkedHashMap<>();
    String filename = "upload.jsonl";
    byte[] delimiter = ("--" + boundary).getBytes(StandardCharsets.ISO_8859_1);
    int at = indexOf(body, delimiter, 0);
    while (at >= 0) {
      int start = at + delimiter.length;
      if (start + 1 < body.length && body[start] == '-' && body[start + 1] == '-') {
        break;
      }
      int headersEnd = indexOf(body, "\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1), start);
      int next = indexOf(body, ("\r\n--" + boundary).getBytes(StandardCharsets.ISO_8859_1), headersEnd);
      if (headersEnd < 0 || next < 0) {
        return error(400, "Malformed multipart body.", null);
      }
      String headers = new String(body, start, headersEnd - start, StandardCharsets.UTF_8);
      String name = attribute(headers, "name");
      String file = attribute(headers, "filename");
      if (file != null) {
        filename = file;
      }
      byte[] value = java.util.Arrays.copyOfRange(body, headersEnd + 4, next);
      if (name != null) {
        fields.put(name, value);
      }
      at = next + 2;
    }
    byte[] content = fields.get("file");
    if (content == null) {
      return error(400, "The upload has no 'file' field.", "file");
    }
    String purpose = fields.containsKey("purpose") ? new String(fields.get("purpose"), StandardCharsets.UTF_8) : "";
    if (!purpose.equals("batch")) {
      return error(400, "The simulated endpoint takes files of purpose 'batch' only.", "purpose");
    }
    StoredFile f = new StoredFile("file-sim-" + ids.incrementAndGet(), filename, purpose, content,
        clockMs.getAsLong());
    files.put(f.id(), f);
    return json(200, fileObject(f));
  }

  private Reply create(byte[] body) {
    JsonNode req;
    try {
      req = mapper.readTree(body);
    } catch (IOException e) {
      return error(400, "The body of the request is not valid JSON.", null);
    }
    String inputFileId = req.path("input_file_id").asText("");
    String endpoint = req.path("endpoint").asText("");
    String window = req.path("completion_window").asText("");
    StoredFile input = files.get(inputFileId);
    if (input == null) {
      return error(400, "No file with id '" + inputFileId + "'.", "input_file_id");
    }
    if (!endpoint.equals("/v1/chat/completions")) {
      return error(400, "The simulated endpoint batches /v1/chat/completions only.", "endpoint");
    }
    if (!window.equals("24h")) {
      return error(400, "completion_window must be 24h.", "completion_window");
    }
    List<JsonNode> lines = new ArrayList<>();
    ArrayNode errors = mapper.createArrayNode();
    Set<String> customIds = new HashSet<>();
    String[] texts = new String(input.content(), StandardCharsets.UTF_8).split("\n");
    for (int i = 0; i < texts.length; i++) {
      if (texts[i].isBlank()) {
        continue;
      }
      String problem = null;
      JsonNode line = null;
      try {
        line = mapper.readTree(texts[i]);
      } catch (IOException e) {
        problem = "not valid JSON";
      }
      if (problem == null) {
        String id = line.path("custom_id").asText("");
        problem = id.isEmpty() ? "custom_id missing"
            : !customIds.add(id) ? "custom_id " + id + " appears more than once"
            : !"POST".equals(line.path("method").asText()) ? "method must be POST"
            : !endpoint.equals(line.path("url").asText()) ? "url must be the batch's endpoint " + endpoint
            : !line.path("body").isObject() ? "body must be an object" : null;
      }
      if (problem != null) {
        ObjectNode e = errors.addObject();
        e.put("code", "invalid_request");
        e.put("message", problem);
        e.put("line", i + 1);
      } else {
        lines.add(line);
      }
    }
    if (lines.size() + errors.size() > MAX_REQUESTS) {
      ObjectNode e = errors.addObject();
      e.put("code", "too_many_requests");
      e.put("message", "a batch holds at most " + MAX_REQUESTS + " requests");
    }
    if (lines.isEmpty() && errors.isEmpty()) {
      ObjectNode e = errors.addObject();
      e.put("code", "empty_file");
      e.put("message", "the input file holds no request");
    }
    String contentHash = SimHashing.sha256Hex(input.content());
    // the same file sent again is another draw: a provider does not expire the same requests forever
    int sent = attempts.computeIfAbsent("file|" + contentHash, h -> new AtomicInteger()).incrementAndGet();
    synchronized (this) {
      Batch b = new Batch("batch_sim_" + ids.incrementAndGet(), inputFileId, endpoint, window,
          req.path("metadata"), clockMs.getAsLong(), lines,
          expireShare > 0 && SimHashing.uniform("batch-expire|" + contentHash + "|" + sent) < expireShare);
      if (!errors.isEmpty()) {
        b.status = "failed";
        b.errors = errors;
        b.finishedAt = b.createdAt;
      } else {
        b.status = "in_progress";
      }
      batches.put(b.id, b);
      List<String> bodies = new ArrayList<>();
      lines.forEach(l -> bodies.add(bodyHash(l.path("body"))));
      submitted.add(new Submitted(b.id, inputFileId, lines.stream().map(l -> l.path("custom_id").asText()).toList(),
          bodies));
      return json(200, batchObject(b));
    }
  }

  private synchronized Reply list() {
    ObjectNode root = mapper.createObjectNode();
    root.put("object", "list");
    ArrayNode data = root.putArray("data");
    for (Batch b : batches.values()) {
      advance(b);
      data.add(batchObject(b));
    }
    root.put("has_more", false);
    return json(200, root);
  }

  /** Finishes a batch whose completion delay has passed: answers its lines, writes its files. */
  private void advance(Batch b) {
    if (!b.status.equals("in_progress") || clockMs.getAsLong() - b.createdAt < delayMs) {
      return;
    }
    ByteArrayOutputStream output = new ByteArrayOutputStream();
    ByteArrayOutputStream errorsOut = new ByteArrayOutputStream();
    for (JsonNode line : b.lines) {
      String customId = line.path("custom_id").asText();
      JsonNode body = line.path("body");
      String hash = bodyHash(body);
      ObjectNode result = mapper.createObjectNode();
      result.put("id", "batch_req_" + ids.incrementAndGet());
      result.put("custom_id", customId);
      if (b.expires && SimHashing.uniform("batch-expire-line|" + b.id + "|" + customId + "|" + hash) >= 0.5) {
        result.putNull("response");
        ObjectNode e = result.putObject("error");
        e.put("code", "batch_expired");
        e.put("message", "This request could not be executed before the completion window expired.");
        write(errorsOut, result);
        b.failed++;
        continue;
      }
      int attempt = attempts.computeIfAbsent(hash, h -> new AtomicInteger()).incrementAndGet();
      LineAnswer answer = attempt == 1 && failureRate > 0 && SimHashing.uniform("batch-fail|" + hash) < failureRate
          ? new LineAnswer(500, SimulatedAnswers.error("Simulated failure of a batch request (first submission).",
              "server_error", null, null))
          : answerer.apply(body);
      ObjectNode response = result.putObject("response");
      response.put("status_code", answer.status());
      response.put("request_id", "req_sim_" + ids.incrementAndGet());
      response.set("body", answer.body());
      result.putNull("error");
      if (answer.status() == 200) {
        write(output, result);
        b.completed++;
      } else {
        write(errorsOut, result);
        b.failed++;
      }
    }
    b.outputFileId = store(b.id + "_output.jsonl", output.toByteArray());
    b.errorFileId = store(b.id + "_error.jsonl", errorsOut.toByteArray());
    b.status = b.expires ? "expired" : "completed";
    b.finishedAt = clockMs.getAsLong();
  }

  private String store(String name, byte[] content) {
    if (content.length == 0) {
      return null;
    }
    StoredFile f = new StoredFile("file-sim-" + ids.incrementAndGet(), name, "batch_output", content,
        clockMs.getAsLong());
    files.put(f.id(), f);
    return f.id();
  }

  private void write(ByteArrayOutputStream out, JsonNode line) {
    try {
      out.write(mapper.writeValueAsBytes(line));
      out.write('\n');
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private String bodyHash(JsonNode body) {
    try {
      return SimHashing.sha256Hex(mapper.writeValueAsBytes(body));
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private ObjectNode batchObject(Batch b) {
    ObjectNode n = mapper.createObjectNode();
    n.put("id", b.id);
    n.put("object", "batch");
    n.put("endpoint", b.endpoint);
    if (b.errors == null) {
      n.putNull("errors");
    } else {
      ObjectNode e = n.putObject("errors");
      e.put("object", "list");
      e.set("data", b.errors);
    }
    n.put("input_file_id", b.inputFileId);
    n.put("completion_window", b.window);
    n.put("status", b.status);
    n.put("output_file_id", b.outputFileId);
    n.put("error_file_id", b.errorFileId);
    long created = b.createdAt / 1000;
    n.put("created_at", created);
    n.put("in_progress_at", b.status.equals("failed") ? null : created);
    n.put("expires_at", created + 24 * 3600);
    long finished = b.finishedAt / 1000;
    n.put("completed_at", b.status.equals("completed") ? finished : null);
    n.put("failed_at", b.status.equals("failed") ? finished : null);
    n.put("expired_at", b.status.equals("expired") ? finished : null);
    n.put("cancelled_at", b.status.equals("cancelled") ? finished : null);
    ObjectNode counts = n.putObject("request_counts");
    counts.put("total", b.lines.size());
    counts.put("completed", b.completed);
    counts.put("failed", b.failed);
    n.set("metadata", b.metadata.isMissingNode() ? null : b.metadata);
    return n;
  }

  private ObjectNode fileObject(StoredFile f) {
    ObjectNode n = mapper.createObjectNode();
    n.put("id", f.id());
    n.put("object", "file");
    n.put("bytes", f.content().length);
    n.put("created_at", f.createdAt() / 1000);
    n.put("filename", f.filename());
    n.put("purpose", f.purpose());
    return n;
  }

  private Reply json(int status, JsonNode body) {
    try {
      return new Reply(status, "application/json", mapper.writeValueAsBytes(body));
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private Reply error(int status, String message, String param) {
    return json(status, SimulatedAnswers.error(message, "invalid_request_error", param,
        status == 404 ? "not_found" : null));
  }

  private Reply notAllowed(String allowed) {
    return json(405, SimulatedAnswers.error("Method not allowed; use " + allowed + ".", "invalid_request_error",
        null, null));
  }

  private static String boundary(String contentType) {
    if (contentType == null || !contentType.toLowerCase(Locale.ROOT).startsWith("multipart/form-data")) {
      return null;
    }
    for (String p : contentType.split(";")) {
      String t = p.trim();
      if (t.toLowerCase(Locale.ROOT).startsWith("boundary=")) {
        String b = t.substring("boundary=".length());
        return b.startsWith("\"") && b.endsWith("\"") && b.length() > 1 ? b.substring(1, b.length() - 1) : b;
      }
    }
    return null;
  }

  private static String attribute(String headers, String name) {
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?i)[; ]" + name + "=\"([^\"]*)\"").matcher(headers);
    return m.find() ? m.group(1) : null;
  }

  private static int indexOf(byte[] data, byte[] needle, int from) {
    if (from < 0) {
      return -1;
    }
    outer:
    for (int i = from; i <= data.length - needle.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (data[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }
}

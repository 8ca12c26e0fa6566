package dev.moaa.runners.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The simulator's Batch API: files up and down, batches that complete after their delay with the
 * answers the same bodies get online, first submissions that fail and succeed when sent again,
 * batches that expire half answered, invalid files, cancelling, and the log of what was submitted.
 */
class SimulatedBatchesTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private final List<SimulatedEndpoint> started = new ArrayList<>();

  @AfterEach
  void close() {
    started.forEach(SimulatedEndpoint::close);
  }

  private SimulatedEndpoint start(SimulatedEndpoint.Settings.Builder b) {
    SimulatedEndpoint sim = SimulatedEndpoint.start(b.latencyMs(0).batchDelayMs(150).build());
    started.add(sim);
    return sim;
  }

  private static ObjectNode chat(String model, String prompt) {
    ObjectNode body = JSON.createObjectNode();
    body.put("model", model);
    body.putArray("messages").addObject().put("role", "user").put("content", prompt);
    body.put("max_tokens", 200);
    return body;
  }

  private static String line(String customId, ObjectNode body) throws Exception {
    ObjectNode l = JSON.createObjectNode();
    l.put("custom_id", customId);
    l.put("method", "POST");
    l.put("url", "/v1/chat/completions");
    l.set("body", body);
    return JSON.writeValueAsString(l);
  }

  private static JsonNode upload(SimulatedEndpoint sim, String jsonl) throws Exception {
    String boundary = "moaa-test-boundary";
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    b.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n")
        .getBytes(StandardCharsets.UTF_8));
    b.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n"
        + "Content-Type: application/jsonl\r\n\r\n").getBytes(StandardCharsets.UTF_8));
    b.writeBytes(jsonl.getBytes(StandardCharsets.UTF_8));
    b.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
    HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(sim.baseUrl() + "/files"))
        .header("Content-Type", "multipart/form-data; boundary=" + boundary)
        .POST(HttpRequest.BodyPublishers.ofByteArray(b.toByteArray())).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), r.body());
    return JSON.readTree(r.body());
  }

  private static HttpResponse<String> send(SimulatedEndpoint sim, String method, String path, String body)
      throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(sim.baseUrl() + path));
    b = body == null ? b.method(method, HttpRequest.BodyPublishers.noBody())
        : b.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(body));
    return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static JsonNode create(SimulatedEndpoint sim, String fileId) throws Exception {
    HttpResponse<String> r = send(sim, "POST", "/batches", "{\"input_file_id\": \"" + fileId
        + "\", \"endpoint\": \"/v1/chat/completions\", \"completion_window\": \"24h\"}");
    assertEquals(200, r.statusCode(), r.body());
    return JSON.readTree(r.body());
  }

  private static JsonNode awaitEnd(SimulatedEndpoint sim, String batchId) throws Exception {
    for (int i = 0; i < 200; i++) {
      JsonNode b = JSON.readTree(send(sim, "GET", "/batches/" + batchId, null).body());
      if (!b.path("status").asText().equals("in_progress")) {
        return b;
      }
      Thread.sleep(25);
    }
    throw new AssertionError("the batch did not end");
  }

  private static Map<String, JsonNode> lines(SimulatedEndpoint sim, JsonNode fileId) throws Exception {
    Map<String, JsonNode> out = new HashMap<>();
    if (fileId.isNull()) {
      return out;
    }
    String text = send(sim, "GET", "/files/" + fileId.asText() + "/content", null).body();
    for (String l : text.split("\n")) {
      if (!l.isBlank()) {
        JsonNode n = JSON.readTree(l);
        out.put(n.path("custom_id").asText(), n);
      }
    }
    return out;
  }

  @Test
  void aBatch_isInProgressUntilItsDelay_thenAnswersEachLineAsTheSameBodyIsAnsweredOnline() throws Exception {
    SimulatedEndpoint sim = start(SimulatedEndpoint.Settings.defaults().toBuilder());
    List<ObjectNode> bodies = List.of(chat("sim-a", "one"), chat("sim-a", "two"), chat("sim-b", "three"));
    StringBuilder jsonl = new StringBuilder();
    for (int i = 0; i < bodies.size(); i++) {
      jsonl.append(line("req-" + i, bodies.get(i))).append('\n');
    }
    JsonNode file = upload(sim, jsonl.toString());
    assertEquals("batch", file.path("purpose").asText());
    JsonNode created = create(sim, file.path("id").asText());
    assertEquals("in_progress", created.path("status").asText());
    assertEquals(3, created.at("/request_counts/total").asInt());

    JsonNode done = awaitEnd(sim, created.path("id").asText());
    assertEquals("completed", done.path("status").asText());
    assertEquals(3, done.at("/request_counts/completed").asInt());
    assertTrue(done.path("error_file_id").isNull(), done.toString());
    Map<String, JsonNode> out = lines(sim, done.path("output_file_id"));
    assertEquals(3, out.size());
    for (int i = 0; i < bodies.size(); i++) {
      JsonNode batched = out.get("req-" + i).at("/response/body");
      assertEquals(200, out.get("req-" + i).at("/response/status_code").asInt());
      JsonNode online = JSON.readTree(send(sim, "POST", "/chat/completions", JSON.writeValueAsString(bodies.get(i))).body());
      assertEquals(online.at("/choices/0/message/content"), batched.at("/choices/0/message/content"));
      assertEquals(online.path("usage"), batched.path("usage"));
    }
    assertEquals(1, sim.batchesSubmitted().size());
    assertEquals(List.of("req-0", "req-1", "req-2"), sim.batchesSubmitted().get(0).customIds());
    assertEquals(6, sim.requests().size(), "three batch lines and three online calls in the request log");
  }

  @Test
  void failedFirstSubmissions_succeedWhenSentAgain_andExpiredBatchesAnswerAboutHalf() throws Exception {
    SimulatedEndpoint failing = start(SimulatedEndpoint.Settings.defaults().toBuilder().batchFailureRate(1.0));
    StringBuilder jsonl = new StringBuilder();
    for (int i = 0; i < 4; i++) {
      jsonl.append(line("f-" + i, chat("sim-a", "question " + i))).append('\n');
    }
    JsonNode first = awaitEnd(failing, create(failing, upload(failing, jsonl.toString()).path("id").asText())
        .path("id").asText());
    assertEquals("completed", first.path("status").asText());
    assertEquals(4, first.at("/request_counts/failed").asInt());
    assertTrue(first.path("output_file_id").isNull());
    Map<String, JsonNode> errors = lines(failing, first.path("error_file_id"));
    assertEquals(500, errors.get("f-0").at("/response/status_code").asInt());
    JsonNode again = awaitEnd(failing, create(failing, upload(failing, jsonl.toString()).path("id").asText())
        .path("id").asText());
    assertEquals(4, again.at("/request_counts/completed").asInt(), "the same bodies sent again succeed");

    SimulatedEndpoint expiring = start(SimulatedEndpoint.Settings.defaults().toBuilder().batchExpireShare(1.0));
    StringBuilder many = new StringBuilder();
    for (int i = 0; i < 40; i++) {
      many.append(line("e-" + i, chat("sim-a", "prompt " + i))).append('\n');
    }
    JsonNode expired = awaitEnd(expiring, create(expiring, upload(expiring, many.toString()).path("id").asText())
        .path("id").asText());
    assertEquals("expired", expired.path("status").asText());
    int answered = expired.at("/request_counts/completed").asInt();
    assertEquals(40, answered + expired.at("/request_counts/failed").asInt());
    assertTrue(answered >= 8 && answered <= 32, "about half answered: " + answered);
    for (JsonNode e : lines(expiring, expired.path("error_file_id")).values()) {
      assertEquals("batch_expired", e.at("/error/code").asText());
      assertTrue(e.path("response").isNull());
    }
    assertEquals(answered, lines(expiring, expired.path("output_file_id")).size());
  }

  @Test
  void anInvalidFileFailsTheBatchWithItsLines_andAnInProgressBatchCanBeCancelled() throws Exception {
    SimulatedEndpoint sim = start(SimulatedEndpoint.Settings.defaults().toBuilder().batchDelayMs(60_000));
    String bad = line("x", chat("sim-a", "a")) + "\n" + line("x", chat("sim-a", "b")) + "\n"
        + "{\"custom_id\": \"y\", \"method\": \"POST\", \"url\": \"/v1/embeddings\", \"body\": {}}\n"
        + "not json\n";
    JsonNode failed = create(sim, upload(sim, bad).path("id").asText());
    assertEquals("failed", failed.path("status").asText());
    List<Integer> badLines = new ArrayList<>();
    failed.at("/errors/data").forEach(e -> badLines.add(e.path("line").asInt()));
    assertEquals(List.of(2, 3, 4), badLines);

    JsonNode slow = create(sim, upload(sim, line("z", chat("sim-a", "c")) + "\n").path("id").asText());
    JsonNode cancelled = JSON.readTree(send(sim, "POST", "/batches/" + slow.path("id").asText() + "/cancel", "").body());
    assertEquals("cancelled", cancelled.path("status").asText());
    assertNull(cancelled.get("output_file_id").textValue());
    assertEquals(404, send(sim, "GET", "/batches/batch_nope", null).statusCode());
    JsonNode list = JSON.readTree(send(sim, "GET", "/batches", null).body());
    assertEquals(2, list.path("data").size());
  }
}

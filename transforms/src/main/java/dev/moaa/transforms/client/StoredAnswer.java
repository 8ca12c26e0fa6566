package dev.moaa.transforms.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The stored form of an answer, what a response cache keeps under a call's hash: a small JSON
 * document with what the call produced (its reasoning too) and what it cost the first time. Nothing
 * of the request is stored but its hash (the key), and no header: a cache entry never holds a
 * credential. The cache itself stores these bytes without reading them.
 */
public final class StoredAnswer {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final int VERSION = 1;

  private StoredAnswer() {}

  /** The stored form of {@code r}, an answer of {@code model}. */
  public static byte[] encode(String model, ChatResponse r) {
    ObjectNode n = JSON.createObjectNode();
    n.put("v", VERSION);
    n.put("model", model);
    n.put("stored_at_ms", System.currentTimeMillis());
    n.put("content", r.content());
    if (r.finishReason() != null) {
      n.put("finish_reason", r.finishReason());
    }
    n.put("prompt_tokens", r.promptTokens());
    n.put("completion_tokens", r.completionTokens());
    n.put("attempts", r.attempts());
    n.put("latency_ms", r.latencyMs());
    ArrayNode choices = n.putArray("choices");
    r.choices().forEach(choices::add);
    if (r.reasoning() != null) {
      n.put("reasoning", r.reasoning());
    }
    if (r.reasoningTokens() > 0) {
      n.put("reasoning_tokens", r.reasoningTokens());
    }
    if (r.usageEstimated()) {
      n.put("usage_estimated", true);
    }
    try {
      return JSON.writeValueAsBytes(n);
    } catch (IOException e) {
      throw new IllegalStateException("cannot encode an answer", e);
    }
  }

  /** The answer stored as {@code raw}; an {@link IOException} when it is not a stored answer of this version. */
  public static ChatResponse decode(byte[] raw) throws IOException {
    JsonNode n = JSON.readTree(raw);
    if (n == null || n.path("v").asInt() != VERSION || !n.path("content").isTextual()) {
      throw new IOException("not a stored answer of version " + VERSION);
    }
    List<String> choices = new ArrayList<>();
    n.path("choices").forEach(c -> choices.add(c.asText()));
    if (choices.isEmpty()) {
      choices.add(n.get("content").asText());
    }
    int attempts = n.path("attempts").asInt();
    return new ChatResponse(n.get("content").asText(),
        n.path("finish_reason").isTextual() ? n.get("finish_reason").asText() : null,
        n.path("prompt_tokens").asLong(), n.path("completion_tokens").asLong(),
        attempts, n.path("latency_ms").asLong(), Math.max(0, attempts - 1), choices, 0, 0, 0,
        n.path("reasoning").isTextual() ? n.get("reasoning").asText() : null, n.path("reasoning_tokens").asLong(),
        n.path("usage_estimated").asBoolean(false));
  }
}

package dev.moaa.transforms.cache;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moaa.transforms.client.ChatResponse;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The stored form of an answer: a small JSON document with what a call produced (its reasoning
 * too) and what it cost the first time. Nothing of the request is stored but its hash (the key), and no header: a cache
 * entry never holds a credential.
 */
final class AnswerCodec {
  private static final ObjectMapper JSON = new ObjectMapper();
  static final int VERSION = 1;

  private AnswerCodec() {}

  static byte[] encode(String model, ChatResponse r) {
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

  static ChatResponse decode(byte[] raw) throws IOException {
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

package dev.moaa.runners.sim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A validated chat-completion request, plus the lenient readers used to record requests that
 * failed validation.
 */
record ChatRequest(
    String model,
    ArrayNode messagesNode,
    List<RecordedRequest.Message> messages,
    Map<String, Object> params,
    int n,
    Integer maxTokens) {

  static final int MAX_CHOICES = 128;

  /** A request the endpoint answers with HTTP 400. */
  static final class BadRequest extends Exception {
    private final String param;

    BadRequest(String message, String param) {
      super(message);
      this.param = param;
    }

    String param() {
      return param;
    }
  }

  /** Validates the parsed body of a chat-completion request. */
  static ChatRequest parse(JsonNode root, ObjectMapper mapper) throws BadRequest {
    if (root == null || !root.isObject()) {
      throw new BadRequest("The request body must be a JSON object.", null);
    }
    JsonNode model = root.get("model");
    if (model == null || !model.isTextual() || model.asText().isBlank()) {
      throw new BadRequest("Missing required parameter: 'model' (a non-empty string).", "model");
    }
    JsonNode messages = root.get("messages");
    if (messages == null || !messages.isArray() || messages.isEmpty()) {
      throw new BadRequest(
          "Missing required parameter: 'messages' (a non-empty array).", "messages");
    }
    for (int i = 0; i < messages.size(); i++) {
      JsonNode message = messages.get(i);
      String where = "messages[" + i + "]";
      if (!message.isObject()) {
        throw new BadRequest(where + " must be an object.", where);
      }
      JsonNode role = message.get("role");
      if (role == null || !role.isTextual() || role.asText().isBlank()) {
        throw new BadRequest(where + ".role must be a non-empty string.", where + ".role");
      }
      JsonNode content = message.get("content");
      if (content != null && !content.isNull() && !content.isTextual() && !content.isArray()) {
        throw new BadRequest(
            where + ".content must be a string, an array of parts or null.", where + ".content");
      }
    }
    int n = 1;
    JsonNode nNode = root.get("n");
    if (nNode != null && !nNode.isNull()) {
      if (!nNode.canConvertToInt() || !nNode.isIntegralNumber()
          || nNode.asInt() < 1 || nNode.asInt() > MAX_CHOICES) {
        throw new BadRequest("'n' must be an integer from 1 to " + MAX_CHOICES + ".", "n");
      }
      n = nNode.asInt();
    }
    Integer maxTokens = null;
    for (String name : List.of("max_tokens", "max_completion_tokens")) {
      JsonNode limit = root.get(name);
      if (limit != null && !limit.isNull()) {
        if (!limit.isIntegralNumber() || !limit.canConvertToInt() || limit.asInt() < 1) {
          throw new BadRequest("'" + name + "' must be a positive integer.", name);
        }
        maxTokens = maxTokens == null ? limit.asInt() : Math.min(maxTokens, limit.asInt());
      }
    }
    JsonNode stream = root.get("stream");
    if (stream != null && stream.asBoolean(false)) {
      throw new BadRequest("The simulated endpoint does not support 'stream': true.", "stream");
    }
    return new ChatRequest(
        model.asText(),
        (ArrayNode) messages,
        messagesOf(root),
        paramsOf(root, mapper),
        n,
        maxTokens);
  }

  /** The model named by a body, or null. */
  static String modelOf(JsonNode root) {
    if (root == null || !root.isObject()) {
      return null;
    }
    JsonNode model = root.get("model");
    return model != null && model.isTextual() ? model.asText() : null;
  }

  /** The role/content pairs of whatever well-formed messages a body holds. */
  static List<RecordedRequest.Message> messagesOf(JsonNode root) {
    List<RecordedRequest.Message> out = new ArrayList<>();
    if (root == null || !root.isObject()) {
      return out;
    }
    JsonNode messages = root.get("messages");
    if (messages == null || !messages.isArray()) {
      return out;
    }
    for (JsonNode message : messages) {
      if (message.isObject()) {
        JsonNode role = message.get("role");
        out.add(new RecordedRequest.Message(
            role != null && role.isTextual() ? role.asText() : "",
            textOf(message.get("content"))));
      }
    }
    return out;
  }

  /** Every top-level field but model and messages, as read-only plain Java values. */
  @SuppressWarnings("unchecked")
  static Map<String, Object> paramsOf(JsonNode root, ObjectMapper mapper) {
    Map<String, Object> out = new LinkedHashMap<>();
    if (root == null || !root.isObject()) {
      return out;
    }
    Iterator<Map.Entry<String, JsonNode>> fields = root.fields();
    while (fields.hasNext()) {
      Map.Entry<String, JsonNode> field = fields.next();
      if (!field.getKey().equals("model") && !field.getKey().equals("messages")) {
        out.put(field.getKey(), readOnly(mapper.convertValue(field.getValue(), Object.class)));
      }
    }
    return out;
  }

  /** The text of a message content: a string, the text parts of an array joined, or "". */
  static String textOf(JsonNode content) {
    if (content == null || content.isNull()) {
      return "";
    }
    if (content.isTextual()) {
      return content.asText();
    }
    if (content.isArray()) {
      List<String> parts = new ArrayList<>();
      for (JsonNode part : content) {
        if (part.isTextual()) {
          parts.add(part.asText());
        } else if (part.isObject() && part.path("text").isTextual()) {
          parts.add(part.get("text").asText());
        }
      }
      return String.join("\n", parts);
    }
    return content.toString();
  }

  @SuppressWarnings("unchecked")
  private static Object readOnly(Object value) {
    if (value instanceof Map<?, ?> map) {
      Map<String, Object> copy = new LinkedHashMap<>();
      map.forEach((k, v) -> copy.put(String.valueOf(k), readOnly(v)));
      return Collections.unmodifiableMap(copy);
    }
    if (value instanceof List<?> list) {
      List<Object> copy = new ArrayList<>();
      list.forEach(v -> copy.add(readOnly(v)));
      return Collections.unmodifiableList(copy);
    }
    return value;
  }
}

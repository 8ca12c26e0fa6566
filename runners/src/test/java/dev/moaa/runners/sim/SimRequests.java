package dev.moaa.runners.sim;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/** Chat request bodies for the simulator's tests. */
final class SimRequests {
  static final ObjectMapper JSON = new ObjectMapper();

  private SimRequests() {}

  static ObjectNode msg(String role, String content) {
    ObjectNode message = JSON.createObjectNode();
    message.put("role", role);
    message.put("content", content);
    return message;
  }

  static ObjectNode chat(String model, ObjectNode... messages) {
    ObjectNode body = JSON.createObjectNode();
    body.put("model", model);
    ArrayNode list = body.putArray("messages");
    for (ObjectNode message : messages) {
      list.add(message);
    }
    return body;
  }
}

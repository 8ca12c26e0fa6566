package dev.moaa.transforms.client;

import dev.moaa.schemas.Message;
import java.util.List;

/**
 * The messages of one call plus an optional per-call seed (null = the endpoint's configured seed).
 * Sampling parameters come from the {@link ModelEndpoint}.
 */
public record ChatRequest(List<Message> messages, Long seed) {
  public ChatRequest {
    messages = List.copyOf(messages);
    if (messages.isEmpty()) {
      throw new IllegalArgumentException("a chat request needs at least one message");
    }
  }

  public static ChatRequest of(List<Message> messages) {
    return new ChatRequest(messages, null);
  }
}

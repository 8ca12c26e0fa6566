package dev.moaa.transforms.client;

import dev.moaa.schemas.Message;
import java.util.List;

/**
 * The messages of one call, an optional per-call seed (null = the endpoint's configured seed) and
 * how many choices to ask for ({@code n}, 1 unless the endpoint supports more). Sampling
 * parameters come from the {@link ModelEndpoint}.
 */
public record ChatRequest(List<Message> messages, Long seed, int n) {
  public ChatRequest {
    messages = List.copyOf(messages);
    if (messages.isEmpty()) {
      throw new IllegalArgumentException("a chat request needs at least one message");
    }
    if (n < 1) {
      throw new IllegalArgumentException("n must be at least 1, got " + n);
    }
  }

  public ChatRequest(List<Message> messages, Long seed) {
    this(messages, seed, 1);
  }

  public static ChatRequest of(List<Message> messages) {
    return new ChatRequest(messages, null, 1);
  }

  public ChatRequest withSeed(Long s) {
    return new ChatRequest(messages, s, n);
  }

  public ChatRequest withN(int choices) {
    return new ChatRequest(messages, seed, choices);
  }
}

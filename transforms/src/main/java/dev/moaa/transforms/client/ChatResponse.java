package dev.moaa.transforms.client;

import java.util.List;

/**
 * A successful answer. {@code content} is the first choice; {@code choices} holds every non-empty
 * choice when more than one was asked for. {@code truncated} is true when the model stopped on its
 * token limit.
 */
public record ChatResponse(
    String content,
    String finishReason,
    long promptTokens,
    long completionTokens,
    int attempts,
    long latencyMs,
    int retries,
    List<String> choices) {

  public ChatResponse {
    choices = choices == null ? List.of(content) : List.copyOf(choices);
  }

  public ChatResponse(String content, String finishReason, long promptTokens, long completionTokens,
      int attempts, long latencyMs, int retries) {
    this(content, finishReason, promptTokens, completionTokens, attempts, latencyMs, retries, List.of(content));
  }

  public boolean truncated() {
    return "length".equals(finishReason);
  }
}

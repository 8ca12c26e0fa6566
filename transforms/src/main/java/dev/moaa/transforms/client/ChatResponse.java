package dev.moaa.transforms.client;

/** A successful answer. {@code truncated} is true when the model stopped on its token limit. */
public record ChatResponse(
    String content,
    String finishReason,
    long promptTokens,
    long completionTokens,
    int attempts,
    long latencyMs,
    int retries) {

  public boolean truncated() {
    return "length".equals(finishReason);
  }
}

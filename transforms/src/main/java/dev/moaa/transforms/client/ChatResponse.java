package dev.moaa.transforms.client;

import java.util.List;

/**
 * A successful answer. {@code content} is the first choice, without any thinking the model wrote
 * inline; {@code choices} holds every non-empty choice when more than one was asked for. {@code
 * reasoning} is the first choice's reasoning (the server's {@code reasoning_content} or {@code
 * reasoning}, or the think blocks taken out of the content), null when there was none. {@code
 * truncated} is true when the model stopped on its token limit. {@code promptTokens} and {@code
 * completionTokens} are what the server billed over every attempt that it answered, the ones whose
 * answers were unusable included ({@code reasoningTokens} is part of the completion tokens; {@code
 * usageEstimated} when an answer came without usage and this client estimated it). {@code
 * rateLimited} counts the attempts answered 429 (part of {@code retries}); {@code startedAtMs} and
 * {@code endedAtMs} are wall-clock times (epoch ms) of the call, 0 when unknown.
 */
public record ChatResponse(
    String content,
    String finishReason,
    long promptTokens,
    long completionTokens,
    int attempts,
    long latencyMs,
    int retries,
    List<String> choices,
    int rateLimited,
    long startedAtMs,
    long endedAtMs,
    String reasoning,
    long reasoningTokens,
    boolean usageEstimated) {

  public ChatResponse {
    choices = choices == null ? List.of(content) : List.copyOf(choices);
  }

  public ChatResponse(String content, String finishReason, long promptTokens, long completionTokens,
      int attempts, long latencyMs, int retries, List<String> choices, int rateLimited, long startedAtMs,
      long endedAtMs) {
    this(content, finishReason, promptTokens, completionTokens, attempts, latencyMs, retries, choices, rateLimited,
        startedAtMs, endedAtMs, null, 0, false);
  }

  public ChatResponse(String content, String finishReason, long promptTokens, long completionTokens,
      int attempts, long latencyMs, int retries, List<String> choices) {
    this(content, finishReason, promptTokens, completionTokens, attempts, latencyMs, retries, choices, 0, 0, 0);
  }

  public ChatResponse(String content, String finishReason, long promptTokens, long completionTokens,
      int attempts, long latencyMs, int retries) {
    this(content, finishReason, promptTokens, completionTokens, attempts, latencyMs, retries, List.of(content));
  }

  public boolean truncated() {
    return "length".equals(finishReason);
  }

  /** What the server billed for this call. */
  public Usage usage() {
    return new Usage(promptTokens, completionTokens, reasoningTokens, usageEstimated);
  }

  /** This answer with the call's wall-clock start and end (epoch ms). */
  public ChatResponse withTimes(long startedAtMs, long endedAtMs) {
    return new ChatResponse(content, finishReason, promptTokens, completionTokens, attempts, latencyMs, retries,
        choices, rateLimited, startedAtMs, endedAtMs, reasoning, reasoningTokens, usageEstimated);
  }
}

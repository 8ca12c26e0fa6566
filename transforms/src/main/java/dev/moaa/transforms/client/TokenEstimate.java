package dev.moaa.transforms.client;

import dev.moaa.schemas.Message;
import java.nio.charset.StandardCharsets;

/**
 * A deliberately high guess of a request's tokens before it is sent, for the budget and the
 * tokens-per-minute bucket: one token per three bytes of text (real tokenizers average about four
 * for English) plus a few per message, and the most completion tokens the request may get.
 */
public final class TokenEstimate {
  private TokenEstimate() {}

  public static long promptTokens(ChatRequest request) {
    long bytes = 0;
    for (Message m : request.messages()) {
      bytes += m.getContent().getBytes(StandardCharsets.UTF_8).length + 8;
    }
    return (bytes + 2) / 3;
  }

  /** The completion tokens the request may use: max_completion_tokens (or max_tokens) per choice, or {@code unbounded} each. */
  public static long completionTokens(ModelEndpoint endpoint, ChatRequest request, long unbounded) {
    Integer limit = endpoint.completionLimit();
    long each = limit != null ? limit : unbounded;
    return each * request.n();
  }
}

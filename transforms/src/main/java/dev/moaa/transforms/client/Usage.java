package dev.moaa.transforms.client;

import java.io.Serializable;

/**
 * Tokens a server billed for the answers it sent back: prompt and completion tokens (the
 * completion including any reasoning tokens, as OpenAI-compatible servers count them), the
 * reasoning part on its own, and whether any of it is this client's estimate because an answer
 * came without a {@code usage} object (or with a body that could not be read).
 */
public record Usage(long promptTokens, long completionTokens, long reasoningTokens, boolean estimated)
    implements Serializable {
  public static final Usage NONE = new Usage(0, 0, 0, false);

  public Usage plus(Usage o) {
    if (o == null || o == NONE) {
      return this;
    }
    return new Usage(promptTokens + o.promptTokens, completionTokens + o.completionTokens,
        reasoningTokens + o.reasoningTokens, estimated || o.estimated);
  }

  public long total() {
    return promptTokens + completionTokens;
  }
}

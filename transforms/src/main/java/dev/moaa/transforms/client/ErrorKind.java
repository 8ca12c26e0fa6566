package dev.moaa.transforms.client;

/** Why a chat call failed. The wire name is what dead letters and lineage record. */
public enum ErrorKind {
  RATE_LIMITED("rate_limited", true),
  SERVER_ERROR("server_error", true),
  TIMEOUT("timeout", true),
  CONNECTION("connection", true),
  MALFORMED_RESPONSE("malformed_response", true),
  EMPTY_CONTENT("empty_content", true),
  CLIENT_ERROR("client_error", false),
  /**
   * The model spent its whole completion budget thinking and wrote no answer: sending the same
   * request again would fail the same way, so it is not retried.
   */
  REASONING_EXHAUSTED("reasoning_exhausted", false),
  MISSING_API_KEY("missing_api_key", false),
  /** Not sent: the run's budget could have been passed by it. */
  BUDGET("budget", false),
  /**
   * Not sent: the store that shares the run's limits and budget across workers cannot be reached,
   * and a call sent without them could pass what the user set. Not retried by the client.
   */
  COORDINATION("coordination_unavailable", false);

  private final String wireName;
  private final boolean retryable;

  ErrorKind(String wireName, boolean retryable) {
    this.wireName = wireName;
    this.retryable = retryable;
  }

  public String wireName() {
    return wireName;
  }

  /** 429, 5xx, timeouts, connection errors, unreadable or empty answers are retried; other 4xx not. */
  public boolean retryable() {
    return retryable;
  }
}

package dev.moaa.transforms.client;

/**
 * A chat call that failed, after retries where the failure was retryable. Its message never holds
 * an API key: bodies echoed by a server are passed through {@link Redactor} first.
 */
public final class ChatException extends Exception {
  private static final long serialVersionUID = 1L;

  private final ErrorKind kind;
  private final int httpStatus;
  private final long retryAfterMs;
  private final int attempts;

  public ChatException(ErrorKind kind, int httpStatus, long retryAfterMs, int attempts, String message) {
    super(message);
    this.kind = kind;
    this.httpStatus = httpStatus;
    this.retryAfterMs = retryAfterMs;
    this.attempts = attempts;
  }

  public ErrorKind kind() {
    return kind;
  }

  /** The HTTP status, or 0 when no response arrived. */
  public int httpStatus() {
    return httpStatus;
  }

  /** The server's requested wait in ms, or -1. */
  public long retryAfterMs() {
    return retryAfterMs;
  }

  public int attempts() {
    return attempts;
  }

  ChatException withAttempts(int n) {
    ChatException e = new ChatException(kind, httpStatus, retryAfterMs, n, getMessage());
    e.setStackTrace(getStackTrace());
    return e;
  }
}

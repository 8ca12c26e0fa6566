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
  private final int rateLimited;
  private final long startedAtMs;
  private final long endedAtMs;
  private final Usage usage;

  public ChatException(ErrorKind kind, int httpStatus, long retryAfterMs, int attempts, String message) {
    this(kind, httpStatus, retryAfterMs, attempts, 0, 0, 0, Usage.NONE, message);
  }

  private ChatException(ErrorKind kind, int httpStatus, long retryAfterMs, int attempts, int rateLimited,
      long startedAtMs, long endedAtMs, Usage usage, String message) {
    super(message);
    this.kind = kind;
    this.httpStatus = httpStatus;
    this.retryAfterMs = retryAfterMs;
    this.attempts = attempts;
    this.rateLimited = rateLimited;
    this.startedAtMs = startedAtMs;
    this.endedAtMs = endedAtMs;
    this.usage = usage == null ? Usage.NONE : usage;
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

  /** How many of the attempts the endpoint answered 429 (the last one included, when it was one). */
  public int rateLimited() {
    return rateLimited;
  }

  /** Wall-clock time (epoch ms) when the call started; 0 when unknown. */
  public long startedAtMs() {
    return startedAtMs;
  }

  /** Wall-clock time (epoch ms) when the call gave up; 0 when unknown. */
  public long endedAtMs() {
    return endedAtMs;
  }

  /**
   * What the server billed for the attempts of this call that it answered (an answer that was
   * unusable is still paid for); {@link Usage#NONE} when no attempt got an answer.
   */
  public Usage usage() {
    return usage;
  }

  /** This failure with what its answered attempts were billed. */
  public ChatException withUsage(Usage u) {
    ChatException e = new ChatException(kind, httpStatus, retryAfterMs, attempts, rateLimited, startedAtMs, endedAtMs,
        u, getMessage());
    e.setStackTrace(getStackTrace());
    return e;
  }

  ChatException withAttempts(int n) {
    return withAttempts(n, rateLimited);
  }

  /** This failure after {@code n} attempts, {@code rateLimited} of them answered 429. */
  ChatException withAttempts(int n, int rateLimited) {
    return copy(n, rateLimited, startedAtMs, endedAtMs);
  }

  /** This failure with the call's wall-clock start and end (epoch ms). */
  public ChatException withTimes(long startedAtMs, long endedAtMs) {
    return copy(attempts, rateLimited, startedAtMs, endedAtMs);
  }

  private ChatException copy(int n, int limited, long started, long ended) {
    ChatException e = new ChatException(kind, httpStatus, retryAfterMs, n, limited, started, ended, usage, getMessage());
    e.setStackTrace(getStackTrace());
    return e;
  }
}

package dev.moaa.transforms.input;

import dev.moaa.schemas.Conversation;
import java.util.Locale;
import java.util.Objects;

/**
 * What {@link ConversationParser} made of one input row: either a {@link Conversation} or a
 * rejection with a {@link Reason} and a human-readable detail.
 *
 * <p>Instances are immutable: the conversation is copied on the way in and on the way out, so a
 * caller may change the copy it gets without affecting this result. Every result names the source
 * and line it came from, so a rejection can become a dead letter on its own.
 */
public final class ParseResult {

  /** Why a row was rejected. {@link #code()} is the stable snake_case form written to outputs. */
  public enum Reason {
    /** The line's bytes are not valid UTF-8. */
    INVALID_UTF8,
    /** The line is not a single well-formed JSON value (includes blank lines). */
    MALFORMED_JSON,
    /** The JSON value is not an object. */
    NOT_AN_OBJECT,
    /** No supported layout matches the row's keys. */
    UNKNOWN_FORMAT,
    /** A field the layout requires is absent or null. */
    MISSING_FIELD,
    /** The message, conversation or turn list is empty. */
    EMPTY_MESSAGES,
    /** A message has a role the layout does not know, or a system message is out of place. */
    UNKNOWN_ROLE,
    /** A user turn (or Alpaca instruction) is empty or only whitespace. */
    EMPTY_CONTENT,
    /** A field has the wrong JSON type, or a content part is not text. */
    BAD_FIELD_TYPE,
    /** The row holds messages but none from the user. */
    NO_USER_TURN,
    /** System prompt plus user turns exceed the configured character budget. */
    PROMPT_TOO_LONG,
    /** The row has more user turns than configured. */
    TOO_MANY_TURNS;

    /** The stable snake_case code, e.g. {@code "invalid_utf8"}. */
    public String code() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  private final Conversation conversation;
  private final Reason reason;
  private final String detail;
  private final String source;
  private final long line;

  private ParseResult(
      Conversation conversation, Reason reason, String detail, String source, long line) {
    this.conversation = conversation;
    this.reason = reason;
    this.detail = detail;
    this.source = source;
    this.line = line;
  }

  /** A successful parse; source and line are taken from the conversation. */
  public static ParseResult success(Conversation conversation) {
    Objects.requireNonNull(conversation, "conversation");
    Conversation copy = Conversation.newBuilder(conversation).build();
    return new ParseResult(copy, null, null, copy.getSource(), copy.getLine());
  }

  /** A rejected row. */
  public static ParseResult failure(Reason reason, String detail, String source, long line) {
    return new ParseResult(
        null,
        Objects.requireNonNull(reason, "reason"),
        Objects.requireNonNull(detail, "detail"),
        Objects.requireNonNull(source, "source"),
        line);
  }

  public boolean isSuccess() {
    return conversation != null;
  }

  /**
   * A copy of the parsed conversation.
   *
   * @throws IllegalStateException on a failure
   */
  public Conversation conversation() {
    if (conversation == null) {
      throw new IllegalStateException("no conversation: parse failed with " + reason.code());
    }
    return Conversation.newBuilder(conversation).build();
  }

  /**
   * The stable snake_case failure code, e.g. {@code "missing_field"}.
   *
   * @throws IllegalStateException on a success
   */
  public String reason() {
    return failureReason().code();
  }

  /**
   * The failure reason as an enum.
   *
   * @throws IllegalStateException on a success
   */
  public Reason failureReason() {
    if (reason == null) {
      throw new IllegalStateException("parse succeeded; there is no failure reason");
    }
    return reason;
  }

  /**
   * What exactly was wrong, for people: names the field, index or role at fault.
   *
   * @throws IllegalStateException on a success
   */
  public String detail() {
    failureReason();
    return detail;
  }

  /** The file (or other origin) the row was read from. */
  public String source() {
    return source;
  }

  /** The 1-based line or row number within {@link #source()}. */
  public long line() {
    return line;
  }

  @Override
  public String toString() {
    return isSuccess()
        ? "ParseResult{success " + source + ":" + line + " id=" + conversation.getId() + "}"
        : "ParseResult{" + reason.code() + " " + source + ":" + line + " " + detail + "}";
  }
}

package dev.moaa.transforms.input;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moaa.schemas.Conversation;
import dev.moaa.transforms.input.ParseResult.Reason;
import java.io.Serializable;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Turns one input row (a JSONL line or a Parquet row) into a normalized {@link Conversation}: the
 * optional system prompt and the user turns, in order. Assistant messages are dropped, since the
 * pipeline regenerates them.
 *
 * <p><b>Input.</b> Raw line bytes ({@link #parseLine}), a JSON string ({@link #parseJson}) or a
 * row already converted to plain Java maps, lists, strings and numbers ({@link #parseRow}, see
 * {@link AvroRows#toPlainMap}). All three end in the same code path over a Jackson tree.
 *
 * <p><b>Layouts</b> ({@link InputFormat}):
 *
 * <ul>
 *   <li>{@code messages}: {@code {"messages": [{"role", "content"}]}}, roles {@code system}, {@code
 *       user}, {@code assistant} (matched ignoring case). At most one system message, and only as
 *       the first message. {@code content} is a string or a list of text parts, {@code {"type":
 *       "text", "text"}}, joined with newlines; other part types are rejected.
 *   <li>{@code sharegpt}: {@code {"conversations": [{"from", "value"}]}}, {@code from} one of
 *       {@code human}/{@code user}, {@code gpt}/{@code assistant}/{@code chatgpt}/{@code
 *       bing}/{@code bard}, or a leading {@code system}.
 *   <li>{@code alpaca}: {@code instruction} (required), {@code input} (appended after a blank line
 *       when not blank), {@code output} (ignored), {@code system} (optional).
 *   <li>{@code prompt}: the first present of {@code prompt}, {@code instruction}, {@code question}
 *       as a single turn, else {@code turns}: a list of strings or of {@code {"content"}} objects
 *       (MT-Bench; Arena-Hard v0.1's old layout). Optional {@code system}.
 * </ul>
 *
 * A blank system prompt counts as none. User turns are kept verbatim, not trimmed.
 *
 * <p><b>Id.</b> The first present, non-blank of {@code id}, {@code question_id}, {@code uid},
 * {@code conversation_id}, {@code prompt_id}, as a string or an integer rendered in decimal.
 * Without one the id is {@link #contentId}: {@code "h-"} and the first 16 hex digits of a SHA-256
 * over the normalized content, so the same content gets the same id on every run and machine.
 *
 * <p><b>Failures</b> are returned, never thrown: a {@link ParseResult} with a {@link Reason} code
 * and a detail naming the field, index or role at fault. Only programming errors (a null argument)
 * throw.
 *
 * <p>Instances are immutable and serializable; configure with {@link #of} and the {@code with...}
 * methods, which return copies. Parsing is deterministic and thread-safe.
 */
public final class ConversationParser implements Serializable {

  private static final long serialVersionUID = 1L;

  /** Default budget, in UTF-16 chars, for the system prompt plus all user turns. */
  public static final int DEFAULT_MAX_PROMPT_CHARS = 200_000;

  /** Default maximum number of user turns. */
  public static final int DEFAULT_MAX_TURNS = 8;

  /** Fields that may carry a row's own id, in order of preference. */
  public static final List<String> ID_FIELDS =
      List.of("id", "question_id", "uid", "conversation_id", "prompt_id");

  private static final List<String> PROMPT_FIELDS = List.of("prompt", "instruction", "question");
  private static final int MAX_KEYS_IN_DETAIL = 20;
  private static final int MAX_QUOTED_CHARS = 60;

  private static final ObjectMapper MAPPER =
      JsonMapper.builder()
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
          .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
          .build();

  private final InputFormat format;
  private final int maxPromptChars;
  private final int maxTurns;

  private ConversationParser(InputFormat format, int maxPromptChars, int maxTurns) {
    this.format = format;
    this.maxPromptChars = maxPromptChars;
    this.maxTurns = maxTurns;
  }

  /** A parser for one layout, or {@link InputFormat#AUTO} to detect the layout per row. */
  public static ConversationParser of(InputFormat format) {
    return new ConversationParser(
        Objects.requireNonNull(format, "format"), DEFAULT_MAX_PROMPT_CHARS, DEFAULT_MAX_TURNS);
  }

  /**
   * Rows whose system prompt and user turns together have more than {@code maxPromptChars} UTF-16
   * chars are rejected with {@code prompt_too_long}.
   */
  public ConversationParser withMaxPromptChars(int maxPromptChars) {
    if (maxPromptChars < 1) {
      throw new IllegalArgumentException("maxPromptChars must be positive, got " + maxPromptChars);
    }
    return new ConversationParser(format, maxPromptChars, maxTurns);
  }

  /** Rows with more than {@code maxTurns} user turns are rejected with {@code too_many_turns}. */
  public ConversationParser withMaxTurns(int maxTurns) {
    if (maxTurns < 1) {
      throw new IllegalArgumentException("maxTurns must be positive, got " + maxTurns);
    }
    return new ConversationParser(format, maxPromptChars, maxTurns);
  }

  public InputFormat format() {
    return format;
  }

  public int maxPromptChars() {
    return maxPromptChars;
  }

  public int maxTurns() {
    return maxTurns;
  }

  /**
   * Parses one JSONL line given as bytes, without its line terminator. The bytes must be strict
   * UTF-8 (no overlong forms, no encoded surrogates); otherwise the result is {@code invalid_utf8}
   * with the byte offset. A leading byte-order mark is ignored.
   */
  public ParseResult parseLine(byte[] utf8Line, String source, long lineNumber) {
    Objects.requireNonNull(utf8Line, "utf8Line");
    Objects.requireNonNull(source, "source");
    CharsetDecoder decoder =
        UTF_8
            .newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT);
    ByteBuffer in = ByteBuffer.wrap(utf8Line);
    // UTF-8 never decodes to more UTF-16 chars than it has bytes.
    CharBuffer out = CharBuffer.allocate(utf8Line.length);
    CoderResult result = decoder.decode(in, out, true);
    if (!result.isError()) {
      result = decoder.flush(out);
    }
    if (result.isError()) {
      int offset = in.position();
      return ParseResult.failure(
          Reason.INVALID_UTF8,
          String.format(
              Locale.ROOT,
              "byte offset %d: %d byte(s) starting 0x%02X are not valid UTF-8",
              offset,
              result.length(),
              utf8Line[offset] & 0xFF),
          source,
          lineNumber);
    }
    out.flip();
    if (out.hasRemaining() && out.get(0) == '\uFEFF') {
      out.position(1);
    }
    return parseJson(out.toString(), source, lineNumber);
  }

  /** Parses one JSON document; it must be a single object with nothing after it. */
  public ParseResult parseJson(String json, String source, long lineNumber) {
    Objects.requireNonNull(json, "json");
    Objects.requireNonNull(source, "source");
    if (json.isBlank()) {
      return ParseResult.failure(Reason.MALFORMED_JSON, "blank line", source, lineNumber);
    }
    JsonNode root;
    try {
      root = MAPPER.readTree(json);
    } catch (JsonProcessingException e) {
      return ParseResult.failure(Reason.MALFORMED_JSON, describe(e), source, lineNumber);
    }
    return parseTree(root, source, lineNumber);
  }

  /**
   * Parses a row given as plain Java values: {@link Map} (keys rendered with {@code
   * String.valueOf}), {@link Iterable} or arrays, {@link CharSequence}, {@link Number}, {@link
   * Boolean}, {@code byte[]}/{@link ByteBuffer} and null. A value of any other type is kept opaque
   * and fails with {@code bad_field_type} only if the layout needs it.
   */
  public ParseResult parseRow(Map<String, Object> row, String source, long lineNumber) {
    Objects.requireNonNull(source, "source");
    if (row == null) {
      return ParseResult.failure(Reason.NOT_AN_OBJECT, "row is null", source, lineNumber);
    }
    return parseTree(toTree(row), source, lineNumber);
  }

  /**
   * Picks the layout of a row from its keys (a key counts as present when its value is not null):
   *
   * <ol>
   *   <li>{@code messages} → {@link InputFormat#MESSAGES};
   *   <li>{@code conversations} → {@link InputFormat#SHAREGPT};
   *   <li>{@code instruction} with {@code input} or {@code output} → {@link InputFormat#ALPACA};
   *   <li>{@code prompt}, {@code instruction}, {@code question} or {@code turns} → {@link
   *       InputFormat#PROMPT}.
   * </ol>
   *
   * Types are not checked here: a {@code messages} key holding a string is still detected as
   * {@code MESSAGES} and then fails with {@code bad_field_type}, which says more than {@code
   * unknown_format} would.
   *
   * @return the layout, or {@code null} when the row is not an object or no rule matches
   */
  public static InputFormat detect(JsonNode row) {
    if (row == null || !row.isObject()) {
      return null;
    }
    if (present(row, "messages")) {
      return InputFormat.MESSAGES;
    }
    if (present(row, "conversations")) {
      return InputFormat.SHAREGPT;
    }
    if (present(row, "instruction") && (present(row, "input") || present(row, "output"))) {
      return InputFormat.ALPACA;
    }
    for (String key : PROMPT_FIELDS) {
      if (present(row, key)) {
        return InputFormat.PROMPT;
      }
    }
    return present(row, "turns") ? InputFormat.PROMPT : null;
  }

  /**
   * The id given to a row that carries none: {@code "h-"} followed by the first 16 lower-case hex
   * digits (64 bits) of SHA-256 over the UTF-8 bytes of the system prompt (empty when null), the
   * character U+0001, then the user turns joined with U+0002. It depends only on that content, not
   * on the layout, source, line, key order or JSON formatting of the row, so it is the same on
   * every run and machine.
   */
  public static String contentId(String system, List<String> turns) {
    String normalized = (system == null ? "" : system) + '\u0001' + String.join("\u0002", turns);
    MessageDigest sha256;
    try {
      sha256 = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java platform provides SHA-256", e);
    }
    byte[] digest = sha256.digest(normalized.getBytes(UTF_8));
    return "h-" + HexFormat.of().formatHex(digest, 0, 8);
  }

  private ParseResult parseTree(JsonNode root, String source, long lineNumber) {
    if (!root.isObject()) {
      return ParseResult.failure(
          Reason.NOT_AN_OBJECT,
          "expected a JSON object, found " + typeName(root),
          source,
          lineNumber);
    }
    try {
      InputFormat used = format == InputFormat.AUTO ? detect(root) : format;
      if (used == null) {
        throw new Rejected(
            Reason.UNKNOWN_FORMAT, "no supported layout matches; keys found: " + keysOf(root));
      }
      Prompt prompt = extract(used, root);
      checkLimits(prompt);
      String id = explicitId(root);
      Conversation conversation =
          Conversation.newBuilder()
              .setId(id != null ? id : contentId(prompt.system(), prompt.turns()))
              .setSource(source)
              .setLine(lineNumber)
              .setFormat(used.wireName())
              .setSystem(prompt.system())
              .setTurns(prompt.turns())
              .setReplies(prompt.replies())
              .build();
      return ParseResult.success(conversation);
    } catch (Rejected rejected) {
      return ParseResult.failure(rejected.reason, rejected.getMessage(), source, lineNumber);
    }
  }

  private static Prompt extract(InputFormat layout, JsonNode row) throws Rejected {
    return switch (layout) {
      case MESSAGES -> fromMessages(row);
      case SHAREGPT -> fromShareGpt(row);
      case ALPACA -> fromAlpaca(row);
      case PROMPT -> fromPrompt(row);
      case AUTO -> throw new IllegalStateException("AUTO is not a concrete layout");
    };
  }

  private static Prompt fromMessages(JsonNode row) throws Rejected {
    JsonNode messages = nonEmptyList(row, "messages");
    String system = null;
    List<String> turns = new ArrayList<>();
    List<String> replies = new ArrayList<>();
    for (int i = 0; i < messages.size(); i++) {
      String at = "messages[" + i + "]";
      JsonNode message = messages.get(i);
      if (!message.isObject()) {
        throw badType(at, "an object", message);
      }
      String role = requiredText(message, "role", at + ".role");
      switch (role.toLowerCase(Locale.ROOT)) {
        case "system" -> {
          requireLeading(i, at);
          system = blankToNull(messageContent(message, at));
        }
        case "user" -> {
          turns.add(userTurn(messageContent(message, at), at + ".content"));
          replies.add(null);
        }
        case "assistant" -> keepReply(turns, replies, replyContent(message, at));
        default -> throw new Rejected(
            Reason.UNKNOWN_ROLE,
            at + " has role " + quote(role) + "; expected system, user or assistant");
      }
    }
    return withUserTurns(system, turns, replies, "no message has role user");
  }

  private static Prompt fromShareGpt(JsonNode row) throws Rejected {
    JsonNode conversations = nonEmptyList(row, "conversations");
    String system = null;
    List<String> turns = new ArrayList<>();
    List<String> replies = new ArrayList<>();
    for (int i = 0; i < conversations.size(); i++) {
      String at = "conversations[" + i + "]";
      JsonNode message = conversations.get(i);
      if (!message.isObject()) {
        throw badType(at, "an object", message);
      }
      String from = requiredText(message, "from", at + ".from");
      switch (from.toLowerCase(Locale.ROOT)) {
        case "system" -> {
          requireLeading(i, at);
          system = blankToNull(requiredText(message, "value", at + ".value"));
        }
        case "human", "user" -> {
          turns.add(userTurn(requiredText(message, "value", at + ".value"), at + ".value"));
          replies.add(null);
        }
        case "gpt", "assistant", "chatgpt", "bing", "bard" ->
            keepReply(turns, replies, optionalText(message, "value"));
        default -> throw new Rejected(
            Reason.UNKNOWN_ROLE,
            at
                + " is from "
                + quote(from)
                + "; expected human, user, gpt, assistant, chatgpt, bing, bard or system");
      }
    }
    return withUserTurns(system, turns, replies, "no message is from human or user");
  }

  private static Prompt fromAlpaca(JsonNode row) throws Rejected {
    String instruction = userTurn(requiredText(row, "instruction", "instruction"), "instruction");
    String input = optionalText(row, "input");
    String turn = input == null || input.isBlank() ? instruction : instruction + "\n\n" + input;
    return new Prompt(blankToNull(optionalText(row, "system")), List.of(turn));
  }

  private static Prompt fromPrompt(JsonNode row) throws Rejected {
    String system = blankToNull(optionalText(row, "system"));
    for (String key : PROMPT_FIELDS) {
      if (present(row, key)) {
        return new Prompt(system, List.of(userTurn(requiredText(row, key, key), key)));
      }
    }
    if (!present(row, "turns")) {
      throw new Rejected(
          Reason.MISSING_FIELD, "none of prompt, instruction, question or turns is present");
    }
    JsonNode list = nonEmptyList(row, "turns");
    List<String> turns = new ArrayList<>(list.size());
    for (int i = 0; i < list.size(); i++) {
      String at = "turns[" + i + "]";
      JsonNode turn = list.get(i);
      if (turn.isTextual()) {
        turns.add(userTurn(turn.textValue(), at));
      } else if (turn.isObject()) {
        turns.add(userTurn(requiredText(turn, "content", at + ".content"), at + ".content"));
      } else {
        throw badType(at, "a string or an object with content", turn);
      }
    }
    return new Prompt(system, turns);
  }

  private static String messageContent(JsonNode message, String at) throws Rejected {
    String where = at + ".content";
    if (!present(message, "content")) {
      throw new Rejected(Reason.MISSING_FIELD, where + " is missing");
    }
    JsonNode content = message.get("content");
    if (content.isTextual()) {
      return content.textValue();
    }
    if (!content.isArray()) {
      throw badType(where, "a string or a list of text parts", content);
    }
    List<String> texts = new ArrayList<>(content.size());
    for (int j = 0; j < content.size(); j++) {
      String partAt = where + "[" + j + "]";
      JsonNode part = content.get(j);
      if (!part.isObject()) {
        throw badType(partAt, "an object", part);
      }
      String type = requiredText(part, "type", partAt + ".type");
      if (!"text".equals(type)) {
        throw new Rejected(
            Reason.BAD_FIELD_TYPE,
            partAt + " has type " + quote(type) + "; only text parts are supported");
      }
      texts.add(requiredText(part, "text", partAt + ".text"));
    }
    return String.join("\n", texts);
  }

  private static void requireLeading(int index, String at) throws Rejected {
    if (index != 0) {
      throw new Rejected(
          Reason.UNKNOWN_ROLE,
          "system message at "
              + at
              + "; only one system message is supported, and only as the first message");
    }
  }

  private static Prompt withUserTurns(
      String system, List<String> turns, List<String> replies, String noneDetail) throws Rejected {
    if (turns.isEmpty()) {
      throw new Rejected(Reason.NO_USER_TURN, noneDetail);
    }
    return new Prompt(system, turns, replies);
  }

  /** An assistant message's text, or null when it has none (tool calls, odd parts): not an error. */
  private static String replyContent(JsonNode message, String at) {
    try {
      return present(message, "content") ? messageContent(message, at) : null;
    } catch (Rejected e) {
      return null;
    }
  }

  /** The first non-blank assistant message after a user turn is that turn's reply. */
  private static void keepReply(List<String> turns, List<String> replies, String content) {
    int last = turns.size() - 1;
    if (last >= 0 && replies.get(last) == null && content != null && !content.isBlank()) {
      replies.set(last, content);
    }
  }

  private void checkLimits(Prompt prompt) throws Rejected {
    if (prompt.turns().size() > maxTurns) {
      throw new Rejected(
          Reason.TOO_MANY_TURNS,
          prompt.turns().size() + " user turns; at most " + maxTurns + " are allowed");
    }
    long chars = prompt.system() == null ? 0 : prompt.system().length();
    for (String turn : prompt.turns()) {
      chars += turn.length();
    }
    if (chars > maxPromptChars) {
      throw new Rejected(
          Reason.PROMPT_TOO_LONG,
          chars
              + " chars in the system prompt and user turns; at most "
              + maxPromptChars
              + " are allowed");
    }
  }

  private static String explicitId(JsonNode row) throws Rejected {
    for (String key : ID_FIELDS) {
      if (!present(row, key)) {
        continue;
      }
      JsonNode value = row.get(key);
      if (value.isTextual()) {
        if (!value.textValue().isBlank()) {
          return value.textValue();
        }
      } else if (value.isIntegralNumber()) {
        return value.bigIntegerValue().toString();
      } else {
        throw badType(key, "a string or an integer", value);
      }
    }
    return null;
  }

  private static JsonNode nonEmptyList(JsonNode row, String key) throws Rejected {
    if (!present(row, key)) {
      throw new Rejected(Reason.MISSING_FIELD, key + " is missing");
    }
    JsonNode list = row.get(key);
    if (!list.isArray()) {
      throw badType(key, "a list", list);
    }
    if (list.isEmpty()) {
      throw new Rejected(Reason.EMPTY_MESSAGES, key + " is an empty list");
    }
    return list;
  }

  private static String requiredText(JsonNode object, String key, String where) throws Rejected {
    if (!present(object, key)) {
      throw new Rejected(Reason.MISSING_FIELD, where + " is missing");
    }
    JsonNode value = object.get(key);
    if (!value.isTextual()) {
      throw badType(where, "a string", value);
    }
    return value.textValue();
  }

  private static String optionalText(JsonNode object, String key) throws Rejected {
    if (!present(object, key)) {
      return null;
    }
    JsonNode value = object.get(key);
    if (!value.isTextual()) {
      throw badType(key, "a string", value);
    }
    return value.textValue();
  }

  private static String userTurn(String text, String where) throws Rejected {
    if (text.isBlank()) {
      throw new Rejected(Reason.EMPTY_CONTENT, where + " is blank");
    }
    return text;
  }

  private static String blankToNull(String text) {
    return text == null || text.isBlank() ? null : text;
  }

  private static boolean present(JsonNode object, String key) {
    JsonNode value = object.get(key);
    return value != null && !value.isNull();
  }

  private static Rejected badType(String where, String expected, JsonNode found) {
    return new Rejected(
        Reason.BAD_FIELD_TYPE, where + " must be " + expected + ", found " + typeName(found));
  }

  private static String typeName(JsonNode node) {
    return node.getNodeType().name().toLowerCase(Locale.ROOT);
  }

  private static String keysOf(JsonNode row) {
    if (row.isEmpty()) {
      return "none";
    }
    StringBuilder keys = new StringBuilder("[");
    Iterator<String> names = row.fieldNames();
    for (int shown = 0; names.hasNext() && shown < MAX_KEYS_IN_DETAIL; shown++) {
      keys.append(shown == 0 ? "" : ", ").append(names.next());
    }
    keys.append(']');
    if (row.size() > MAX_KEYS_IN_DETAIL) {
      keys.append(" and ").append(row.size() - MAX_KEYS_IN_DETAIL).append(" more");
    }
    return keys.toString();
  }

  private static String quote(String text) {
    return text.length() <= MAX_QUOTED_CHARS
        ? "'" + text + "'"
        : "'" + text.substring(0, MAX_QUOTED_CHARS) + "...'";
  }

  private static String describe(JsonProcessingException e) {
    String message = String.valueOf(e.getOriginalMessage()).replaceAll("\\s+", " ").trim();
    if (message.length() > 300) {
      message = message.substring(0, 300) + "...";
    }
    JsonLocation location = e.getLocation();
    return location == null
        ? message
        : message + " (line " + location.getLineNr() + ", column " + location.getColumnNr() + ")";
  }

  private static JsonNode toTree(Object value) {
    JsonNodeFactory nodes = JsonNodeFactory.instance;
    if (value == null) {
      return nodes.nullNode();
    } else if (value instanceof CharSequence || value instanceof Character) {
      return nodes.textNode(value.toString());
    } else if (value instanceof Boolean) {
      return nodes.booleanNode((Boolean) value);
    } else if (value instanceof Integer || value instanceof Short || value instanceof Byte) {
      return nodes.numberNode(((Number) value).intValue());
    } else if (value instanceof Long) {
      return nodes.numberNode((Long) value);
    } else if (value instanceof BigInteger) {
      return nodes.numberNode((BigInteger) value);
    } else if (value instanceof Float) {
      return nodes.numberNode((Float) value);
    } else if (value instanceof Double) {
      return nodes.numberNode((Double) value);
    } else if (value instanceof BigDecimal) {
      return nodes.numberNode((BigDecimal) value);
    } else if (value instanceof Map) {
      ObjectNode object = nodes.objectNode();
      for (Map.Entry<?, ?> entry : ((Map<?, ?>) value).entrySet()) {
        object.set(String.valueOf(entry.getKey()), toTree(entry.getValue()));
      }
      return object;
    } else if (value instanceof Iterable) {
      ArrayNode array = nodes.arrayNode();
      for (Object element : (Iterable<?>) value) {
        array.add(toTree(element));
      }
      return array;
    } else if (value instanceof Object[]) {
      ArrayNode array = nodes.arrayNode();
      for (Object element : (Object[]) value) {
        array.add(toTree(element));
      }
      return array;
    } else if (value instanceof byte[]) {
      return nodes.binaryNode((byte[]) value);
    } else if (value instanceof ByteBuffer) {
      ByteBuffer buffer = ((ByteBuffer) value).duplicate();
      byte[] bytes = new byte[buffer.remaining()];
      buffer.get(bytes);
      return nodes.binaryNode(bytes);
    }
    return nodes.pojoNode(value);
  }

  @Override
  public boolean equals(Object other) {
    if (!(other instanceof ConversationParser)) {
      return false;
    }
    ConversationParser that = (ConversationParser) other;
    return format == that.format
        && maxPromptChars == that.maxPromptChars
        && maxTurns == that.maxTurns;
  }

  @Override
  public int hashCode() {
    return Objects.hash(format, maxPromptChars, maxTurns);
  }

  @Override
  public String toString() {
    return "ConversationParser{format="
        + format.wireName()
        + ", maxPromptChars="
        + maxPromptChars
        + ", maxTurns="
        + maxTurns
        + "}";
  }

  /** The normalized content of a row, before limits and ids. */
  /** What a row asks: system prompt, user turns, and the input's reply after each turn (may be null). */
  private record Prompt(String system, List<String> turns, List<String> replies) {
    Prompt(String system, List<String> turns) {
      this(system, turns, List.of());
    }
  }

  /** A row rejection, carried up from wherever it is found; no stack trace is filled in. */
  private static final class Rejected extends Exception {
    private static final long serialVersionUID = 1L;
    final Reason reason;

    Rejected(Reason reason, String detail) {
      super(detail, null, false, false);
      this.reason = reason;
    }
  }
}

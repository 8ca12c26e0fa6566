package dev.moaa.pipelines.report;

import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.generic.GenericRecord;

/**
 * The figures of one {@code Call} the run report draws, without its texts: about 80 bytes per
 * call instead of the answer, the request hash and the record around them. Read like the {@code
 * Call} record it came from (same field names; a field the source lacked reads as null), plus
 * {@value #WORDS}: the answer's length in words, -1 when it had none. Immutable.
 */
final class SlimCall implements GenericRecord {
  static final String WORDS = "words";

  static final Schema SCHEMA = SchemaBuilder.record("SlimCall").namespace("dev.moaa.pipelines").fields()
      .optionalString("model").optionalString("role").optionalString("error_kind")
      .requiredBoolean("cached").requiredBoolean("ok")
      .requiredInt("attempts").requiredInt("rate_limited").requiredInt("turn").requiredInt("layer")
      .requiredLong("latency_ms").requiredLong("prompt_tokens").requiredLong("completion_tokens")
      .optionalLong("started_at_ms").optionalLong("ended_at_ms").requiredLong(WORDS)
      .endRecord();
  private static final long NONE = Long.MIN_VALUE;

  private final String model;
  private final String role;
  private final String errorKind;
  private final boolean cached;
  private final boolean ok;
  private final int attempts;
  private final int rateLimited;
  private final int turn;
  private final int layer;
  private final long latencyMs;
  private final long promptTokens;
  private final long completionTokens;
  private final long startedAtMs;
  private final long endedAtMs;
  private final long words;

  private SlimCall(String model, String role, String errorKind, boolean cached, boolean ok, int attempts,
      int rateLimited, int turn, int layer, long latencyMs, long promptTokens, long completionTokens,
      long startedAtMs, long endedAtMs, long words) {
    this.model = model;
    this.role = role;
    this.errorKind = errorKind;
    this.cached = cached;
    this.ok = ok;
    this.attempts = attempts;
    this.rateLimited = rateLimited;
    this.turn = turn;
    this.layer = layer;
    this.latencyMs = latencyMs;
    this.promptTokens = promptTokens;
    this.completionTokens = completionTokens;
    this.startedAtMs = startedAtMs;
    this.endedAtMs = endedAtMs;
    this.words = words;
  }

  /** The figures of {@code call}; repeated strings (model, role, error kind) are shared through {@code names}. */
  static SlimCall of(GenericRecord call, Map<String, String> names) {
    Object content = field(call, "content");
    return new SlimCall(name(call, "model", names), name(call, "role", names), name(call, "error_kind", names),
        Boolean.TRUE.equals(field(call, "cached")), Boolean.TRUE.equals(field(call, "ok")),
        (int) number(call, "attempts", 0), (int) number(call, "rate_limited", 0), (int) number(call, "turn", 0),
        (int) number(call, "layer", 0), number(call, "latency_ms", 0), number(call, "prompt_tokens", 0),
        number(call, "completion_tokens", 0), number(call, "started_at_ms", NONE), number(call, "ended_at_ms", NONE),
        content == null ? -1 : words(content.toString()));
  }

  /**
   * Words: runs of characters between ASCII whitespace ({@code \\s}), ends stripped of any
   * whitespace. A scan, not a regex split: the report counts the words of every answer of a run.
   */
  static long words(String s) {
    String t = s.strip();
    if (t.isEmpty()) {
      return 0;
    }
    long words = 1;
    boolean inGap = false;
    for (int i = 0; i < t.length(); i++) {
      char c = t.charAt(i);
      boolean space = c == ' ' || c == '\t' || c == '\n' || c == '\u000B' || c == '\f' || c == '\r';
      if (space && !inGap) {
        words++;
      }
      inGap = space;
    }
    return words;
  }

  private static Object field(GenericRecord r, String name) {
    return r.getSchema().getField(name) == null ? null : r.get(name);
  }

  private static long number(GenericRecord r, String name, long absent) {
    return field(r, name) instanceof Number n ? n.longValue() : absent;
  }

  private static String name(GenericRecord r, String field, Map<String, String> names) {
    Object v = field(r, field);
    if (v == null) {
      return null;
    }
    String s = v.toString();
    return names.computeIfAbsent(s, k -> k);
  }

  @Override
  public Schema getSchema() {
    return SCHEMA;
  }

  @Override
  public Object get(String key) {
    return switch (key) {
      case "model" -> model;
      case "role" -> role;
      case "error_kind" -> errorKind;
      case "cached" -> cached;
      case "ok" -> ok;
      case "attempts" -> attempts;
      case "rate_limited" -> rateLimited;
      case "turn" -> turn;
      case "layer" -> layer;
      case "latency_ms" -> latencyMs;
      case "prompt_tokens" -> promptTokens;
      case "completion_tokens" -> completionTokens;
      case "started_at_ms" -> startedAtMs == NONE ? null : startedAtMs;
      case "ended_at_ms" -> endedAtMs == NONE ? null : endedAtMs;
      case WORDS -> words;
      default -> null;
    };
  }

  @Override
  public Object get(int i) {
    return get(SCHEMA.getFields().get(i).name());
  }

  @Override
  public void put(String key, Object v) {
    throw new UnsupportedOperationException("a SlimCall is read-only");
  }

  @Override
  public void put(int i, Object v) {
    throw new UnsupportedOperationException("a SlimCall is read-only");
  }
}

package dev.moaa.transforms.input;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The row layouts {@link ConversationParser} understands.
 *
 * <p>{@link #AUTO} is not a layout of its own: it asks the parser to pick one per row with {@link
 * ConversationParser#detect}. A parsed {@code Conversation} always records the concrete layout it
 * was read with, never {@code auto}.
 */
public enum InputFormat {
  /** OpenAI / UltraChat chat rows: {@code {"messages": [{"role", "content"}, ...]}}. */
  MESSAGES,
  /** ShareGPT rows: {@code {"conversations": [{"from", "value"}, ...]}}. */
  SHAREGPT,
  /** Alpaca rows: {@code {"instruction", "input"?, "output"?, "system"?}}. */
  ALPACA,
  /**
   * Bare prompts: {@code prompt}, {@code instruction} or {@code question} as a string, or a {@code
   * turns} list (MT-Bench, Arena-Hard) for several user turns.
   */
  PROMPT,
  /** Decide per row. */
  AUTO;

  /** The lower-case name used in options, file names and the {@code format} column. */
  public String wireName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /**
   * Reads a format from its wire name, ignoring case and surrounding blanks.
   *
   * @throws IllegalArgumentException when {@code name} is null or names no format; the message
   *     lists the valid names
   */
  public static InputFormat parse(String name) {
    if (name != null) {
      String wanted = name.trim();
      for (InputFormat format : values()) {
        if (format.wireName().equalsIgnoreCase(wanted)) {
          return format;
        }
      }
    }
    throw new IllegalArgumentException(
        "unknown input format "
            + (name == null ? "null" : "'" + name + "'")
            + "; valid formats: "
            + Arrays.stream(values()).map(InputFormat::wireName).collect(Collectors.joining(", ")));
  }
}

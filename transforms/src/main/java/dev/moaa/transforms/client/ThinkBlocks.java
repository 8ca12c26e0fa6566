package dev.moaa.transforms.client;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Separates a model's visible answer from the thinking some models write inline: every {@code
 * <think>…</think>} block, a reply that starts inside a block (text up to a {@code </think>} with no
 * opening tag before it, as when the chat template opened the block) and a block that never closes
 * (the token budget ran out while thinking). What is left, trimmed, is the answer.
 */
public final class ThinkBlocks {
  private static final String OPEN = "<think>";
  private static final String CLOSE = "</think>";
  private static final Pattern TAG = Pattern.compile("</?think>", Pattern.CASE_INSENSITIVE);

  private ThinkBlocks() {}

  /** An answer and the thinking taken out of it (null when there was none). */
  public record Split(String answer, String thinking) {}

  /** True when {@code text} holds a think tag. */
  public static boolean hasTags(String text) {
    return text != null && TAG.matcher(text).find();
  }

  public static Split split(String text) {
    if (text == null || !hasTags(text)) {
      return new Split(text == null ? null : text, null);
    }
    StringBuilder answer = new StringBuilder();
    StringBuilder thinking = new StringBuilder();
    Matcher m = TAG.matcher(text);
    int pos = 0;
    boolean inside = false;
    boolean seenTag = false;
    while (m.find()) {
      String piece = text.substring(pos, m.start());
      boolean close = m.group().charAt(1) == '/';
      if (close) {
        // text before a closing tag is thinking: inside a block, or at the start of a reply that
        // began inside one (the template opened it); a stray closing tag later only goes
        if (inside || !seenTag) {
          append(thinking, piece);
        } else {
          answer.append(piece);
        }
        inside = false;
      } else {
        if (inside) {
          append(thinking, piece);
        } else {
          answer.append(piece);
        }
        inside = true;
      }
      seenTag = true;
      pos = m.end();
    }
    String rest = text.substring(pos);
    if (inside) {
      append(thinking, rest);
    } else {
      answer.append(rest);
    }
    String a = answer.toString().strip();
    String t = thinking.toString().strip();
    return new Split(a, seenTag && !t.isEmpty() ? t : null);
  }

  /** {@code text} without its think blocks (and stray tags), trimmed. */
  public static String strip(String text) {
    return split(text).answer();
  }

  /** The answer with its reasoning written back in front as one think block, for a model asked to keep it. */
  public static String withThinking(String answer, String thinking) {
    if (thinking == null || thinking.isBlank()) {
      return answer;
    }
    return OPEN + "\n" + thinking.strip() + "\n" + CLOSE + "\n\n" + answer;
  }

  private static void append(StringBuilder b, String piece) {
    if (piece.isBlank()) {
      return;
    }
    if (b.length() > 0) {
      b.append('\n');
    }
    b.append(piece.strip());
  }
}

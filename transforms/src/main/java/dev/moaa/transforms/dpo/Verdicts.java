package dev.moaa.transforms.dpo;

import dev.moaa.transforms.client.ThinkBlocks;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads the machine-readable last line of a judge's reply. Only the last non-empty line counts:
 * verdict-like text anywhere else (an answer quoted by the judge, say) never decides a verdict.
 * Thinking the judge wrote inline ({@code <think>…</think>}) is not part of the reply.
 */
public final class Verdicts {
  public static final String A = "A";
  public static final String B = "B";
  public static final String TIE = "TIE";

  private static final Pattern VERDICT = Pattern.compile("^\\**\\s*VERDICT\\s*:\\s*\\**\\s*\\[?(A|B|TIE)]?\\s*\\**\\.?$",
      Pattern.CASE_INSENSITIVE);
  private static final Pattern CRITERIA = Pattern.compile("^\\**\\s*CRITERIA\\s*:\\s*(.+)$", Pattern.CASE_INSENSITIVE);

  private Verdicts() {}

  /** A, B or TIE from the last non-empty line, or empty when that line is not a verdict line. */
  public static Optional<String> parse(String reply) {
    String last = lastLine(reply);
    if (last == null) {
      return Optional.empty();
    }
    Matcher m = VERDICT.matcher(last);
    return m.matches() ? Optional.of(m.group(1).toUpperCase(Locale.ROOT)) : Optional.empty();
  }

  /** The names on a last line {@code CRITERIA: a, b, c}, lower-cased; empty when there is no such line. */
  public static List<String> parseCriteria(String reply) {
    String last = lastLine(reply);
    List<String> out = new ArrayList<>();
    if (last == null) {
      return out;
    }
    Matcher m = CRITERIA.matcher(last);
    if (m.matches()) {
      for (String part : m.group(1).split(",")) {
        String name = part.trim().replaceAll("[*.`]", "").toLowerCase(Locale.ROOT);
        if (!name.isEmpty()) {
          out.add(name);
        }
      }
    }
    return out;
  }

  private static String lastLine(String reply) {
    if (reply == null) {
      return null;
    }
    String[] lines = ThinkBlocks.strip(reply).split("\\R");
    for (int i = lines.length - 1; i >= 0; i--) {
      if (!lines[i].isBlank()) {
        return lines[i].strip();
      }
    }
    return null;
  }

  /** The verdict with A and B swapped: how an order-(B,A) verdict reads in order (A,B). */
  public static String swap(String verdict) {
    return A.equals(verdict) ? B : B.equals(verdict) ? A : verdict;
  }
}

package dev.moaa.transforms.dpo;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The predefined criteria a judge may be told to weigh, and how a choice of them is checked. */
public final class JudgingCriteria {
  /** Name and what it asks of an answer, in a fixed order. */
  public static final Map<String, String> ALL = new LinkedHashMap<>();

  static {
    ALL.put("accuracy", "facts, calculations and code are correct");
    ALL.put("helpfulness", "it does what the user actually asked and moves them forward");
    ALL.put("relevance", "it stays on the question without padding or digressions");
    ALL.put("depth", "it goes as deep as the question deserves: reasons, trade-offs, details");
    ALL.put("clarity", "it is well organized and easy to follow");
    ALL.put("completeness", "it covers every part of the request");
    ALL.put("safety", "it avoids harmful, dangerous or unethical content and refuses only when right to");
    ALL.put("honesty", "it states uncertainty and does not invent facts or sources");
    ALL.put("instruction_following", "it respects explicit constraints on format, length, language and style");
    ALL.put("creativity", "where the task invites it, it is original and engaging");
    ALL.put("reasoning", "its logic is sound, with steps that follow from one another");
  }

  /** What a judge weighs when criteria selection is off or yields nothing usable. */
  public static final List<String> FALLBACK = List.of("accuracy", "helpfulness", "clarity");

  private JudgingCriteria() {}

  /** The list as the criteria template shows it: one {@code - name: description} line each. */
  public static String renderList() {
    StringBuilder b = new StringBuilder();
    ALL.forEach((name, what) -> b.append(b.length() == 0 ? "" : "\n").append("- ").append(name).append(": ").append(what));
    return b.toString();
  }

  /** The known names among {@code picked}, in order, without repeats, at most {@code count}. */
  public static List<String> keepKnown(List<String> picked, int count) {
    List<String> out = new ArrayList<>();
    for (String p : picked) {
      if (ALL.containsKey(p) && !out.contains(p) && out.size() < count) {
        out.add(p);
      }
    }
    return out;
  }

  /** How the criteria read inside a judge prompt. */
  public static String describe(List<String> criteria) {
    if (criteria.isEmpty()) {
      return "the overall quality of the answer";
    }
    List<String> parts = new ArrayList<>();
    for (String c : criteria) {
      parts.add(c + " (" + ALL.getOrDefault(c, c) + ")");
    }
    return String.join("; ", parts);
  }
}

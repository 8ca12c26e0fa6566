package dev.moaa.runners.sim;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The simulated LLM judges: recognises a judge request from its text and writes the deterministic
 * reply, so judge logic can be tested against the known {@linkplain SimulatedQuality quality} of
 * the answers it compares.
 *
 * <p>The layouts recognised are those of the {@code judge/*}{@code /v1.txt} prompt templates. In
 * the order checked, on the text of every message joined with newlines:
 *
 * <ol>
 *   <li><b>verdict repair</b>: the last message is a user message containing {@value
 *       #REPAIR_MARKER}. The reply is the one line {@code VERDICT: X} of the original judgment
 *       found in the first user message (the same model and the same draws, so the same verdict),
 *       or {@code I am unable to decide.} when that judgment's conversation block contains
 *       {@value #MALFORMED_ALWAYS_MARKER}.
 *   <li><b>criteria selection</b>: a line {@code [Criteria list]}. The reply names {@code Number of
 *       criteria: N} distinct criteria of the list, in list order, chosen from a hash of the
 *       conversation block, on a last line {@code CRITERIA: a, b, c}.
 *   <li><b>aggregate (lead) judge</b>: {@code [Evaluation 1]}. The votes are the last non-empty
 *       lines of the evaluations that read {@code VERDICT: A|B|TIE}; the verdict is the side with
 *       more votes, TIE when A and B votes are level. No noise, no position bias.
 *   <li><b>pairwise judge</b>: {@code [Answer A]} and {@code [Answer B]}. With {@code qa, qb} the
 *       qualities of the two answers and draws {@code u1, u2} from {@code sha256(seed, model,
 *       sha256(first user message))}: A when {@code u1 < positionBias(model)}; otherwise the
 *       better answer, or the worse one when {@code u2 < noise(model)}; TIE when the qualities
 *       are equal. The reply quotes the first 200 characters of each answer, names the preferred
 *       one and ends with {@code VERDICT: X}, a line left out when the conversation block
 *       contains {@value #MALFORMED_VERDICT_MARKER} or {@value #MALFORMED_ALWAYS_MARKER}.
 *   <li>anything else is a normal answer.
 * </ol>
 */
public final class SimulatedJudge {

  /** The text that makes the last user message a verdict-repair request. */
  public static final String REPAIR_MARKER = "[Verdict repair]";

  /** In a pairwise judgment's conversation block: the reply has no verdict line. */
  public static final String MALFORMED_VERDICT_MARKER = "SIM_MALFORMED_VERDICT";

  /** In a pairwise judgment's conversation block: no verdict line, not even after a repair. */
  public static final String MALFORMED_ALWAYS_MARKER = "SIM_MALFORMED_ALWAYS";

  /** The reply to a repair request whose original judgment never gives a verdict. */
  static final String UNDECIDED = "I am unable to decide.";

  /** How many characters of each answer a pairwise judge quotes. */
  static final int QUOTE_CHARS = 200;

  private static final String CONVERSATION_OPEN = "[Conversation]";
  private static final String CONVERSATION_CLOSE = "[End of conversation]";
  private static final String ANSWER_A_OPEN = "[Answer A]\n";
  private static final String ANSWER_B_OPEN = "[Answer B]\n";
  private static final String ANSWER_B_CLOSE = "\n[End of answer B]";
  private static final String FIRST_EVALUATION = "[Evaluation 1]";
  private static final Pattern BETWEEN_ANSWERS =
      Pattern.compile("\n\\[End of answer A\\][ \\t]*\\R\\s*\\[Answer B\\]\n");
  private static final Pattern CRITERIA_LIST_LINE =
      Pattern.compile("(?m)^[ \\t]*\\[Criteria list\\][ \\t]*$");
  private static final Pattern CRITERIA_COUNT =
      Pattern.compile("(?m)^[ \\t]*Number of criteria:[ \\t]*(\\d+)[ \\t]*$");
  private static final Pattern EVALUATION_OPEN =
      Pattern.compile("(?m)^[ \\t]*\\[Evaluation (\\d+)\\][ \\t]*$");
  private static final Pattern VOTE = Pattern.compile("VERDICT:[ \\t]*(A|B|TIE)");

  /** What a request asks for, as recognised from its text. */
  enum Kind {
    VERDICT_REPAIR,
    CRITERIA,
    AGGREGATE,
    PAIRWISE,
    ANSWER
  }

  private final SimulatedEndpoint.Settings settings;

  SimulatedJudge(SimulatedEndpoint.Settings settings) {
    this.settings = Objects.requireNonNull(settings, "settings");
  }

  /**
   * The verdict the simulated pairwise judge {@code model} reaches when {@code prompt} (a rendered
   * {@code judge/pairwise} template) is the first user message of its request: {@code "A"},
   * {@code "B"} or {@code "TIE"}, or null when the prompt holds no two answers. The verdict is
   * returned even when a {@code SIM_MALFORMED_*} marker keeps the endpoint from writing it.
   */
  public static String pairwiseVerdict(
      SimulatedEndpoint.Settings settings, String model, String prompt) {
    Objects.requireNonNull(model, "model");
    Objects.requireNonNull(prompt, "prompt");
    Pairwise pairwise = Pairwise.parse(prompt);
    return pairwise == null ? null : new SimulatedJudge(settings).decide(model, pairwise, prompt);
  }

  /** Recognises the kind of a request; see the class comment for the rules. */
  static Kind kind(List<RecordedRequest.Message> messages) {
    if (!messages.isEmpty()) {
      RecordedRequest.Message last = messages.get(messages.size() - 1);
      if (last.role().equals("user") && last.content().contains(REPAIR_MARKER)) {
        return Kind.VERDICT_REPAIR;
      }
    }
    String text = joined(messages);
    if (CRITERIA_LIST_LINE.matcher(text).find()) {
      return Kind.CRITERIA;
    }
    if (text.contains(FIRST_EVALUATION)) {
      return Kind.AGGREGATE;
    }
    if (text.contains("[Answer A]") && text.contains("[Answer B]")) {
      return Kind.PAIRWISE;
    }
    return Kind.ANSWER;
  }

  /**
   * The reply of a judge request of {@code kind} (anything but {@link Kind#ANSWER}) to {@code
   * model}; {@code tag} is the {@code [simulated MODEL SIG]} label that opens multi-line replies.
   */
  String reply(Kind kind, String model, List<RecordedRequest.Message> messages, String tag) {
    return switch (kind) {
      case VERDICT_REPAIR -> repair(model, messages);
      case CRITERIA -> criteria(joined(messages), tag);
      case AGGREGATE -> aggregate(joined(messages), tag);
      case PAIRWISE -> pairwise(model, messages, tag);
      case ANSWER -> throw new IllegalArgumentException("a normal answer is not a judge reply");
    };
  }

  // ---------------------------------------------------------------------------------------------
  // pairwise

  private String pairwise(String model, List<RecordedRequest.Message> messages, String tag) {
    String source = pairwiseSource(messages, joined(messages));
    Pairwise pairwise = Pairwise.parse(source);
    if (pairwise == null) {
      return tag + " I could not find two complete answers to compare.";
    }
    String verdict = decide(model, pairwise, firstUser(messages));
    StringBuilder text = new StringBuilder(tag)
        .append(" Answer A begins: \"").append(quote(pairwise.answerA())).append("\"\n")
        .append("Answer B begins: \"").append(quote(pairwise.answerB())).append("\"\n")
        .append(switch (verdict) {
          case "A" -> "Answer A serves the user better.";
          case "B" -> "Answer B serves the user better.";
          default -> "Both answers serve the user equally well.";
        });
    if (!pairwise.conversation().contains(MALFORMED_VERDICT_MARKER)
        && !pairwise.conversation().contains(MALFORMED_ALWAYS_MARKER)) {
      text.append("\nVERDICT: ").append(verdict);
    }
    return text.toString();
  }

  /** The deterministic decision of {@code model}; {@code drawn} is the hashed user message. */
  private String decide(String model, Pairwise pairwise, String drawn) {
    String material = settings.seed() + "|" + model + "|" + SimHashing.sha256Hex(drawn);
    if (SimHashing.uniform("judge-position|" + material) < settings.judgePositionBias(model)) {
      return "A";
    }
    double qa = SimulatedQuality.qualityOf(pairwise.answerA());
    double qb = SimulatedQuality.qualityOf(pairwise.answerB());
    if (Math.abs(qa - qb) < 1e-9) {
      return "TIE";
    }
    boolean aBetter = qa > qb;
    boolean slip = SimHashing.uniform("judge-noise|" + material) < settings.judgeNoise(model);
    return aBetter != slip ? "A" : "B";
  }

  // ---------------------------------------------------------------------------------------------
  // repair

  private String repair(String model, List<RecordedRequest.Message> messages) {
    String first = firstUser(messages);
    String original = first;
    if (!first.contains(FIRST_EVALUATION) && Pairwise.parse(first) == null) {
      original = joined(messages.subList(0, messages.size() - 1));
    }
    if (original.contains(FIRST_EVALUATION)) {
      return "VERDICT: " + majority(original).verdict();
    }
    Pairwise pairwise = Pairwise.parse(original);
    if (pairwise == null || pairwise.conversation().contains(MALFORMED_ALWAYS_MARKER)) {
      return UNDECIDED;
    }
    return "VERDICT: " + decide(model, pairwise, first);
  }

  // ---------------------------------------------------------------------------------------------
  // aggregate

  /** The tally of the votes found in the evaluations of a lead-judge prompt. */
  private record Tally(int evaluations, int a, int b, int tie) {
    String verdict() {
      return a > b ? "A" : b > a ? "B" : "TIE";
    }
  }

  private static String aggregate(String text, String tag) {
    Tally tally = majority(text);
    int missing = tally.evaluations() - tally.a() - tally.b() - tally.tie();
    String reason = tally.verdict().equals("TIE")
        ? "with neither answer ahead, I call it a tie."
        : "I side with the majority, answer " + tally.verdict() + ".";
    return tag + " Of " + tally.evaluations() + " evaluations, " + tally.a() + " favour answer A, "
        + tally.b() + " favour answer B, " + tally.tie() + " call it a tie and " + missing
        + " give no verdict; " + reason + "\nVERDICT: " + tally.verdict();
  }

  private static Tally majority(String text) {
    int evaluations = 0;
    int a = 0;
    int b = 0;
    int tie = 0;
    Matcher open = EVALUATION_OPEN.matcher(text);
    int from = 0;
    while (from < text.length() && open.find(from)) {
      evaluations++;
      int start = open.end();
      String close = "\n[End of evaluation " + open.group(1) + "]";
      int end = text.indexOf(close, start);
      Matcher next = EVALUATION_OPEN.matcher(text);
      int nextStart = next.find(start) ? next.start() : text.length();
      if (end < 0 || end > nextStart) {
        end = nextStart;
      }
      from = Math.max(end, start);
      Matcher vote = VOTE.matcher(lastNonEmptyLine(text.substring(start, Math.max(start, end))));
      if (vote.matches()) {
        switch (vote.group(1)) {
          case "A" -> a++;
          case "B" -> b++;
          default -> tie++;
        }
      }
    }
    return new Tally(evaluations, a, b, tie);
  }

  // ---------------------------------------------------------------------------------------------
  // criteria

  private static String criteria(String text, String tag) {
    Matcher listLine = CRITERIA_LIST_LINE.matcher(text);
    listLine.find();
    List<String> names = criteriaNames(text.substring(listLine.end()));
    Matcher countLine = CRITERIA_COUNT.matcher(text);
    int wanted = 1;
    if (countLine.find()) {
      try {
        wanted = Integer.parseInt(countLine.group(1));
      } catch (NumberFormatException tooLarge) {
        wanted = Integer.MAX_VALUE;
      }
    }
    wanted = Math.max(0, Math.min(wanted, names.size()));
    String conversation = conversationBlock(text, listLine.start());
    String material = "criteria|" + SimHashing.sha256Hex(conversation) + "|";
    List<String> ranked = new ArrayList<>(names);
    ranked.sort(Comparator.comparingDouble(name -> SimHashing.uniform(material + name)));
    Set<String> picked = Set.copyOf(ranked.subList(0, wanted));
    List<String> chosen = names.stream().filter(picked::contains).toList();
    String listed = String.join(", ", chosen);
    String sentence = chosen.isEmpty()
        ? " The list offers no criteria to choose from."
        : " For this conversation, " + listed + " best separate a good answer from a poor one.";
    return tag + sentence + "\nCRITERIA: " + listed;
  }

  /** The distinct names of the {@code - name: description} lines before the list's end line. */
  private static List<String> criteriaNames(String afterListLine) {
    Set<String> names = new LinkedHashSet<>();
    for (String line : afterListLine.split("\\R", -1)) {
      String trimmed = line.strip();
      if (trimmed.equals("[End of criteria list]")) {
        break;
      }
      if (trimmed.startsWith("-")) {
        String item = trimmed.substring(1);
        int colon = item.indexOf(':');
        String name = (colon < 0 ? item : item.substring(0, colon)).strip();
        if (!name.isEmpty()) {
          names.add(name);
        }
      }
    }
    return List.copyOf(names);
  }

  // ---------------------------------------------------------------------------------------------
  // parsing helpers

  /** A pairwise judgment's parts, as read from a rendered template. */
  private record Pairwise(String conversation, String answerA, String answerB) {

    /**
     * Reads the parts, or null when there are no two answers. Answer A runs from the first
     * {@code [Answer A]} line after the conversation block to the last {@code [End of answer A]}
     * line that is followed by the {@code [Answer B]} line; answer B runs from there to the last
     * {@code [End of answer B]} line (or the end of the text).
     */
    static Pairwise parse(String text) {
      int searchFrom = 0;
      int conversationEnd = conversationEnd(text);
      if (conversationEnd >= 0) {
        searchFrom = conversationEnd;
      }
      int openA = text.indexOf(ANSWER_A_OPEN, searchFrom);
      if (openA < 0) {
        return null;
      }
      int startA = openA + ANSWER_A_OPEN.length();
      int closeB = text.lastIndexOf(ANSWER_B_CLOSE);
      Matcher between = BETWEEN_ANSWERS.matcher(text);
      between.region(startA - 1, closeB >= startA ? closeB + 1 : text.length());
      int endA = -1;
      int startB = -1;
      while (between.find()) {
        endA = between.start();
        startB = between.end();
      }
      if (endA < 0) {
        int openB = text.indexOf(ANSWER_B_OPEN, startA);
        if (openB < 0) {
          return null;
        }
        endA = openB;
        startB = openB + ANSWER_B_OPEN.length();
      }
      int endB = closeB >= startB - 1 ? closeB : text.length();
      String a = text.substring(startA, Math.max(startA, endA));
      String b = text.substring(startB, Math.max(startB, endB));
      return new Pairwise(conversationBlock(text, openA), a, b);
    }
  }

  /** The pairwise prompt: the first user message holding both answers, else all the text. */
  private static String pairwiseSource(List<RecordedRequest.Message> messages, String joined) {
    for (RecordedRequest.Message message : messages) {
      if (message.role().equals("user")) {
        String content = message.content();
        return content.contains("[Answer A]") && content.contains("[Answer B]") ? content : joined;
      }
    }
    return joined;
  }

  /**
   * The conversation block: from the {@code [Conversation]} line to the next {@code [End of
   * conversation]} line; without such a block, the text before {@code fallbackEnd}.
   */
  private static String conversationBlock(String text, int fallbackEnd) {
    int open = text.indexOf(CONVERSATION_OPEN + "\n");
    int end = conversationEnd(text);
    if (open < 0 || end < 0) {
      return text.substring(0, Math.max(0, Math.min(fallbackEnd, text.length())));
    }
    int start = open + CONVERSATION_OPEN.length() + 1;
    int close = text.indexOf("\n" + CONVERSATION_CLOSE, start - 1);
    return text.substring(start, Math.max(start, close));
  }

  /** Where the conversation block's end line ends, or -1 without a complete block. */
  private static int conversationEnd(String text) {
    int open = text.indexOf(CONVERSATION_OPEN + "\n");
    if (open < 0) {
      return -1;
    }
    int start = open + CONVERSATION_OPEN.length() + 1;
    int close = text.indexOf("\n" + CONVERSATION_CLOSE, start - 1);
    return close < 0 ? -1 : close + 1 + CONVERSATION_CLOSE.length();
  }

  private static String lastNonEmptyLine(String text) {
    String[] lines = text.split("\\R");
    for (int i = lines.length - 1; i >= 0; i--) {
      if (!lines[i].isBlank()) {
        return lines[i].strip();
      }
    }
    return "";
  }

  private static String quote(String answer) {
    if (answer.length() <= QUOTE_CHARS) {
      return answer;
    }
    int end = QUOTE_CHARS;
    if (Character.isHighSurrogate(answer.charAt(end - 1))) {
      end--;
    }
    return answer.substring(0, end) + "...";
  }

  /** The content of the first user message, or "" when there is none. */
  static String firstUser(List<RecordedRequest.Message> messages) {
    for (RecordedRequest.Message message : messages) {
      if (message.role().equals("user")) {
        return message.content();
      }
    }
    return "";
  }

  /** Every message's content, in order, joined with newlines. */
  static String joined(List<RecordedRequest.Message> messages) {
    StringBuilder text = new StringBuilder();
    for (RecordedRequest.Message message : messages) {
      if (text.length() > 0) {
        text.append('\n');
      }
      text.append(message.content());
    }
    return text.toString();
  }
}

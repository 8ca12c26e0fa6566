package dev.moaa.runners.sim;

import java.util.Locale;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The hidden quality of a simulated answer: the ground truth that simulated judges compare, and
 * that a test can read back to check what a judge pipeline decided.
 *
 * <p>Every normal answer of the {@link SimulatedEndpoint} ends with a marker {@code
 * ⟨quality=0.NNN⟩} (U+27E8 and U+27E9 around it, three decimals). The value is a uniform number in
 * [0, 1) drawn from the answer's signature, rounded down to three decimals, so a different model,
 * conversation, request {@code seed} or choice index gives, in general, another quality.
 *
 * <pre>{@code
 * double q = SimulatedQuality.qualityOf(answerText); // the last marker, or a hash of the text
 * }</pre>
 */
public final class SimulatedQuality {

  /** The text that opens a quality marker. */
  public static final String MARKER_OPEN = "\u27E8quality=";

  /** The character that closes a quality marker. */
  public static final String MARKER_CLOSE = "\u27E9";

  private static final Pattern MARKER =
      Pattern.compile("\u27E8quality=([0-9]+(?:\\.[0-9]+)?)\u27E9");

  private SimulatedQuality() {}

  /**
   * The quality of an answer: the value of the last {@code ⟨quality=…⟩} marker in the text, or,
   * when there is none (a real answer, or a simulated one cut short by {@code max_tokens}), a
   * deterministic number in [0, 1) hashed from the text with surrounding whitespace stripped.
   *
   * @throws NullPointerException when {@code answerText} is null
   */
  public static double qualityOf(String answerText) {
    Objects.requireNonNull(answerText, "answerText");
    Matcher matcher = MARKER.matcher(answerText);
    String last = null;
    while (matcher.find()) {
      last = matcher.group(1);
    }
    if (last != null) {
      return Double.parseDouble(last);
    }
    return SimHashing.uniform("quality-of-text|" + answerText.strip());
  }

  /**
   * The marker for a quality, as appended to an answer (without the leading space).
   *
   * @throws IllegalArgumentException when {@code quality} is outside [0, 1)
   */
  public static String marker(double quality) {
    if (!(quality >= 0 && quality < 1)) {
      throw new IllegalArgumentException("quality must be within [0, 1): " + quality);
    }
    return MARKER_OPEN + String.format(Locale.ROOT, "%.3f", floor3(quality)) + MARKER_CLOSE;
  }

  /** The quality of the answer whose signature is {@code sig}, already rounded down to 0.001. */
  static double forSignature(String sig) {
    return floor3(SimHashing.uniform("quality|" + sig));
  }

  /**
   * The quality of an answer of a model with hidden {@code skill} whose signature is {@code sig}:
   * the uniform draw u raised to (1 - skill) / skill (u itself at 0.5), rounded down to 0.001.
   */
  static double forSignature(String sig, double skill) {
    double u = SimHashing.uniform("quality|" + sig);
    return skill == 0.5 ? floor3(u) : floor3(Math.pow(u, (1 - skill) / skill));
  }

  /** Rounds down to three decimals, so the marker never reads 1.000. */
  private static double floor3(double value) {
    return Math.floor(value * 1000) / 1000;
  }
}

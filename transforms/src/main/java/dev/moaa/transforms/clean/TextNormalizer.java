package dev.moaa.transforms.clean;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;

/**
 * The text form that duplicate and contamination checks compare: Unicode NFKC, lower case,
 * punctuation and symbols removed, whitespace collapsed. Han, Hiragana and Katakana characters
 * count as one word each, since those scripts put no spaces between words.
 */
public final class TextNormalizer {
  private TextNormalizer() {}

  /** The words of {@code text} after normalisation, in order. */
  public static List<String> words(String text) {
    List<String> out = new ArrayList<>();
    if (text == null) {
      return out;
    }
    String s = Normalizer.normalize(text, Normalizer.Form.NFKC).toLowerCase(Locale.ROOT);
    StringBuilder word = new StringBuilder();
    for (int i = 0; i < s.length(); ) {
      int cp = s.codePointAt(i);
      i += Character.charCount(cp);
      if (isOwnWord(cp)) {
        flush(word, out);
        out.add(new String(Character.toChars(cp)));
      } else if (isWordPart(cp)) {
        word.appendCodePoint(cp);
      } else {
        flush(word, out);
      }
    }
    flush(word, out);
    return out;
  }

  /** The normalised text: the words joined by single spaces. */
  public static String normalize(String text) {
    return String.join(" ", words(text));
  }

  /** SHA-256 (hex) of the normalised user turns; raw text is used when nothing survives normalisation. */
  public static String contentKey(List<? extends CharSequence> turns) {
    StringBuilder normalized = new StringBuilder();
    for (CharSequence t : turns) {
      normalized.append(normalize(t.toString())).append('\n');
    }
    String key = normalized.toString().isBlank() ? "raw\u0001" + String.join("\n", turns) : normalized.toString();
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static boolean isOwnWord(int cp) {
    Character.UnicodeScript script = Character.UnicodeScript.of(cp);
    return script == Character.UnicodeScript.HAN || script == Character.UnicodeScript.HIRAGANA
        || script == Character.UnicodeScript.KATAKANA;
  }

  private static boolean isWordPart(int cp) {
    int type = Character.getType(cp);
    return Character.isLetterOrDigit(cp) || type == Character.NON_SPACING_MARK || type == Character.COMBINING_SPACING_MARK;
  }

  private static void flush(StringBuilder word, List<String> out) {
    if (word.length() > 0) {
      out.add(word.toString());
      word.setLength(0);
    }
  }
}

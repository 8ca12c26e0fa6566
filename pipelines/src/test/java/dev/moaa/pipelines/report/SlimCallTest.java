package dev.moaa.pipelines.report;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

class SlimCallTest {
  /** What the report counted before the scan: the stripped text split at runs of whitespace. */
  private static long bySplit(String s) {
    String t = s.strip();
    return t.isEmpty() ? 0 : t.split("\\s+").length;
  }

  @Test
  void wordCountIsTheSplitCount() {
    List<String> texts = List.of("", "   ", "one", " one ", "one two", "one  two\tthree\nfour\r\nfive",
        "\u00a0non\u00a0breaking\u00a0", "\u2003em space\u2003inside\u2003", "tab\u000Bvertical\ffeed",
        "ends with newline\n\n", "mixed \u2003 gap", "日本語 の テキスト");
    for (String t : texts) {
      assertEquals(bySplit(t), SlimCall.words(t), "words of [" + t + "]");
    }
    assertEquals(5, SlimCall.words("one  two\tthree\nfour\r\nfive"));
  }
}

package dev.moaa.pipelines;

import dev.moaa.transforms.io.StoragePath;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;

/**
 * The names of the documents a run writes beside its data, and how to tell a dataset card this
 * product wrote from a README.md of the user's (the run replaces its own files only).
 */
public final class RunFiles {
  /** The run report. */
  public static final String REPORT = "report.html";
  /** The dataset card's file name in the output folder. */
  public static final String CARD = "README.md";
  /** Where the card goes when the folder already holds a README.md that is not a MoAA card. */
  public static final String CARD_FALLBACK = "DATASET_CARD.md";
  /** A comment in every card this product writes; a README.md without it is the user's and is left alone. */
  public static final String CARD_MARK = "<!-- written by MoAA-Beam: rewritten on every run in this folder -->";

  private RunFiles() {}

  /** True when {@code file} is a card this product wrote (and may replace or remove). */
  public static boolean isOurCard(StoragePath file) {
    try {
      if (!file.isFile()) {
        return false;
      }
    } catch (IOException e) {
      return false;
    }
    try (BufferedReader r = new BufferedReader(new InputStreamReader(file.open(), StandardCharsets.UTF_8))) {
      String line;
      for (int i = 0; i < 400 && (line = r.readLine()) != null; i++) {
        if (line.equals(CARD_MARK)) {
          return true;
        }
      }
      return false;
    } catch (IOException e) {
      return false;
    }
  }
}

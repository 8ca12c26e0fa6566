package dev.moaa.transforms.input;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.Reader;

/** Reads a small JSON Lines file held whole (benchmark question sets): blank lines are skipped. */
public final class JsonLines {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** What to do with each row: its 1-based line number and its JSON. */
  @FunctionalInterface
  public interface RowHandler {
    void row(int line, JsonNode node);
  }

  private JsonLines() {}

  /**
   * Hands every non-blank line to {@code handler}; a line that is not JSON is an {@link
   * IllegalArgumentException} whose message starts with {@code label} (may be empty) and the line number.
   */
  public static void forEach(Reader reader, String label, RowHandler handler) throws IOException {
    String prefix = label == null || label.isEmpty() ? "" : label + " ";
    BufferedReader lines = reader instanceof BufferedReader b ? b : new BufferedReader(reader);
    String line;
    int number = 0;
    while ((line = lines.readLine()) != null) {
      number++;
      if (line.isBlank()) {
        continue;
      }
      JsonNode n;
      try {
        n = JSON.readTree(line);
      } catch (IOException e) {
        throw new IllegalArgumentException(prefix + "line " + number + ": not valid JSON");
      }
      handler.row(number, n);
    }
  }
}

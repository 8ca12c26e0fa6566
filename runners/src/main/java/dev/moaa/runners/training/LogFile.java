package dev.moaa.runners.training;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** An append-only log of a child's lines; a no-op when opened with a null path. Thread-safe. */
public final class LogFile implements AutoCloseable {
  private final BufferedWriter w;

  private LogFile(BufferedWriter w) {
    this.w = w;
  }

  /** Opens {@code p} for appending (creating its folder); {@code null} gives a log that drops lines. */
  public static LogFile open(Path p) {
    if (p == null) {
      return new LogFile(null);
    }
    try {
      Files.createDirectories(p.toAbsolutePath().getParent());
      return new LogFile(Files.newBufferedWriter(p, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
          StandardOpenOption.APPEND));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open the log " + p, e);
    }
  }

  public synchronized void write(String line) {
    if (w == null) {
      return;
    }
    try {
      w.write(line);
      w.newLine();
      w.flush();
    } catch (IOException e) {
      // the console still has the line
    }
  }

  @Override
  public synchronized void close() {
    if (w != null) {
      try {
        w.close();
      } catch (IOException e) {
        // nothing to add
      }
    }
  }
}

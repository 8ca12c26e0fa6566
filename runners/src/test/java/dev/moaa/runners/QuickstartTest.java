package dev.moaa.runners;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The quick start as a new user sees it: progress while it runs, none after, and its outputs. */
class QuickstartTest {
  @TempDir Path dir;

  @Test
  void theQuickStartShowsProgressWhileItRuns_andNoneAfterItEnds() throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code;
    try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
      code = Quickstart.run(new String[] {"--output=" + dir.resolve("qs")}, o, e);
    }
    String printed = out.toString(StandardCharsets.UTF_8) + err.toString(StandardCharsets.UTF_8);
    System.out.println(printed);
    assertEquals(0, code, printed);
    List<String> lines = printed.lines().toList();
    int done = -1;
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).startsWith("MoAA SFT DONE")) {
        done = i;
      }
    }
    assertTrue(done > 0, "the run ended: " + printed);
    long before = lines.subList(0, done).stream().filter(l -> l.startsWith("progress ")).count();
    long after = lines.subList(done, lines.size()).stream().filter(l -> l.startsWith("progress ")).count();
    assertTrue(before >= 1, "at least one progress line while it ran: " + printed);
    assertEquals(0, after, "no progress line after the end");
    assertTrue(Files.isRegularFile(dir.resolve("qs/report.html")), "the run report");
    assertTrue(Files.isRegularFile(dir.resolve("qs/README.md")), "the dataset card");
  }
}

package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The progress line of a DirectRunner run: a slow simulated endpoint and a one-second interval give
 * several lines; their figures stay within the run's totals, and none follows the final summary.
 */
class ProgressLineTest {
  private static final Pattern LINE = Pattern.compile(
      "^progress \\d+:\\d\\d  conversations (\\d+)/(\\d+) done .*calls (\\d+) \\(in flight (\\d+)\\).*cost \\$([0-9.]+).*$");

  @Test
  void givenASlowEndpoint_printsProgressLinesWhileRunning_andNoneAfterTheSummary() throws IOException {
    Path work = Fixtures.workDir("progress");
    Path input = work.resolve("input");
    Files.createDirectories(input);
    int rows = 24;
    try (BufferedWriter w = Files.newBufferedWriter(input.resolve("p.jsonl"), StandardCharsets.UTF_8)) {
      for (int i = 0; i < rows; i++) {
        w.write("{\"id\":\"p" + i + "\",\"prompt\":\"Progress prompt " + i + ": explain back-pressure.\"}\n");
      }
    }
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults()
        .withLatencyMs(400).withLatencyJitterMs(100))) {
      Files.writeString(work.resolve("config.yaml"),
          Fixtures.config(sim.baseUrl(), 2, 1, 2, "").replace("max_concurrency: 16", "max_concurrency: 4"));
      Fixtures.Run run = Fixtures.moaa("sft", "--config=" + work.resolve("config.yaml"),
          "--input=" + input + "/*.jsonl", "--output=" + work.resolve("out"), "--progressSeconds=1");
      assertEquals(0, run.code(), run.err());

      List<String> lines = run.out().lines().toList();
      int done = -1;
      for (int i = 0; i < lines.size(); i++) {
        if (lines.get(i).startsWith("MoAA SFT DONE")) {
          done = i;
        }
      }
      assertTrue(done > 0, "no DONE line:\n" + run.out());
      int seen = 0;
      long lastDone = -1;
      for (int i = 0; i < lines.size(); i++) {
        String l = lines.get(i);
        if (!l.startsWith("progress ")) {
          continue;
        }
        assertTrue(i < done, "a progress line after the summary: " + l);
        Matcher m = LINE.matcher(l);
        assertTrue(m.matches(), "unexpected progress line: " + l);
        long settled = Long.parseLong(m.group(1));
        long total = Long.parseLong(m.group(2));
        long calls = Long.parseLong(m.group(3));
        long flying = Long.parseLong(m.group(4));
        assertTrue(total == 0 || total == rows, "total is the rows read: " + l);
        assertTrue(settled <= rows && settled >= lastDone, "done never passes the total nor goes back: " + l);
        assertTrue(calls <= 3L * rows, "at most 3 calls per conversation: " + l);
        assertTrue(flying <= 3 * 4, "in flight stays under the models' limits: " + l);
        assertTrue(Double.parseDouble(m.group(5)) >= 0, l);
        lastDone = settled;
        seen++;
      }
      assertTrue(seen >= 2, "expected progress lines during a run of several seconds:\n" + run.out());
      assertTrue(run.out().contains("in flight"), run.out());
      assertFalse(lines.subList(done, lines.size()).stream().anyMatch(l -> l.startsWith("progress ")));
    }
  }
}

package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** A file of bad rows: each becomes a dead letter with its line number and reason; the run succeeds. */
class BadInputTest {

  @Test
  void givenBadLines_eachIsADeadLetterWithLineAndReason_andGoodLinesAreWritten() throws Exception {
    Path work = Fixtures.workDir("bad-input");
    ByteArrayOutputStream file = new ByteArrayOutputStream();
    line(file, "{\"id\":\"good-1\",\"prompt\":\"A fine question about joins.\"}");                 // 1
    line(file, "{\"id\":\"broken\", \"prompt\": \"unterminated");                                   // 2 malformed_json
    line(file, "{\"id\":\"nothing-usable\",\"text\":\"no known field\"}");                          // 3 unknown_format
    line(file, "{\"id\":\"no-content\",\"messages\":[{\"role\":\"user\"}]}");                      // 4 missing_field
    line(file, "{\"id\":\"empty\",\"messages\":[]}");                                             // 5 empty_messages
    line(file, "{\"id\":\"robot\",\"messages\":[{\"role\":\"robot\",\"content\":\"beep\"}]}");       // 6 unknown_role
    file.write("{\"id\":\"latin1\",\"prompt\":\"caf".getBytes(StandardCharsets.UTF_8));             // 7 invalid_utf8
    file.write(new byte[] {(byte) 0xE9, (byte) 0xFF});
    line(file, "\"}");
    line(file, "{\"id\":\"good-2\",\"conversations\":[{\"from\":\"human\",\"value\":\"Hi there\"}]}"); // 8
    line(file, "{\"id\":\"huge\",\"prompt\":\"" + "x".repeat(1 << 20) + "\"}");                     // 9 prompt_too_long
    line(file, "");                                                                                  // blank: not a record
    line(file, "{\"id\":\"good-3\",\"instruction\":\"Sort these\",\"input\":\"3 1 2\"}");            // 11
    line(file, "{\"id\":\"good-1\",\"prompt\":\"The same id again: dropped, not processed.\"}");    // 12 duplicate
    Files.createDirectories(work.resolve("in"));
    Files.write(work.resolve("in/bad.jsonl"), file.toByteArray());

    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(5))) {
      Files.writeString(work.resolve("config.yaml"), Fixtures.config(sim.baseUrl(), 2, 1, 2, ""));
      Fixtures.Run run = Fixtures.moaa("sft", "--config=" + work.resolve("config.yaml"),
          "--input=" + work.resolve("in/bad.jsonl"), "--output=" + work.resolve("out"));
      assertEquals(0, run.code(), run.err());
      Fixtures.assertReconciles(Fixtures.manifest(work.resolve("out")), 11, 3, 7, 1);
    }
    Map<Long, String> reasonByLine = new HashMap<>();
    for (JsonNode d : Fixtures.readJsonLines(work.resolve("out/dead-letters"))) {
      assertEquals("read", d.get("stage").asText());
      assertTrue(d.get("source").asText().endsWith("bad.jsonl"));
      assertTrue(!d.get("error").asText().isBlank(), "a reason in words too");
      reasonByLine.put(d.get("line").asLong(), d.get("reason").asText());
    }
    assertEquals(Map.of(2L, "malformed_json", 3L, "unknown_format", 4L, "missing_field", 5L, "empty_messages",
        6L, "unknown_role", 7L, "invalid_utf8", 9L, "prompt_too_long"), reasonByLine);
    List<JsonNode> dropped = Fixtures.readJsonLines(work.resolve("out/dropped"));
    assertEquals(1, dropped.size());
    assertEquals("duplicate_id", dropped.get(0).get("reason").asText());
    assertEquals(12, dropped.get(0).get("line").asLong());
    assertTrue(dropped.get(0).get("detail").asText().contains("line 1"), "names the row kept");
    assertEquals(List.of("good-1", "good-2", "good-3"), Fixtures.readParquet(work.resolve("out/sft/parquet")).stream()
        .map(r -> r.get("id").toString()).sorted().toList());
  }

  private static void line(ByteArrayOutputStream out, String s) {
    out.writeBytes(s.getBytes(StandardCharsets.UTF_8));
    out.write('\n');
  }
}

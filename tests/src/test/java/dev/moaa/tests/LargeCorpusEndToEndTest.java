package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.moaa.runners.launch.RunnerDefaults;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A corpus with more rows than the DirectRunner holds (the limit lowered to 100 rows for the test,
 * as {@code -Dmoaa.directRunnerMaxRows} does) runs, with no runner flag, on Flink's embedded runner
 * in batch mode: the run says so, prints progress lines while it calls, reconciles, drops the
 * duplicate, dead-letters the bad line and writes every shard of both formats, the manifest, card
 * and report.
 */
class LargeCorpusEndToEndTest {
  @Test
  void aCorpusPastTheDirectRunnersLimit_runsOnEmbeddedFlinkInBatchMode_withEverythingADirectRunHas() throws Exception {
    Path work = Fixtures.workDir("large-corpus");
    Path input = work.resolve("input");
    Files.createDirectories(input);
    int rows = 240;
    try (BufferedWriter w = Files.newBufferedWriter(input.resolve("p.jsonl"), StandardCharsets.UTF_8)) {
      for (int i = 0; i < rows; i++) {
        w.write("{\"id\":\"r" + i + "\",\"prompt\":\"Row " + i + ": describe a " + (i % 7) + "-step plan for topic "
            + i * 31 + ".\"}\n");
      }
      w.write("{\"id\":\"r5\",\"prompt\":\"The same id again: dropped.\"}\n");
      w.write("{\"id\":\"broken\",\"prompt\": \"unterminated\n");
    }
    String previous = System.getProperty(RunnerDefaults.DIRECT_MAX_ROWS_PROPERTY);
    System.setProperty(RunnerDefaults.DIRECT_MAX_ROWS_PROPERTY, "100");
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults()
        .withLatencyMs(60).withLatencyJitterMs(20))) {
      Files.writeString(work.resolve("config.yaml"), Fixtures.config(sim.baseUrl(), 2, 1, 2, "")
          .replace("max_concurrency: 16", "max_concurrency: 8"));
      Fixtures.Run run = Fixtures.moaa("sft", "--config=" + work.resolve("config.yaml"),
          "--input=" + input + "/*.jsonl", "--output=" + work.resolve("out"), "--progressSeconds=1");
      assertEquals(0, run.code(), run.err());
      assertTrue(run.err().contains("about 242 rows in 1 file") && run.err().contains("more than the 100 the"
          + " DirectRunner holds") && run.err().contains("Flink's embedded runner in batch mode"), run.err());
      assertTrue(run.out().contains("runner FlinkRunner"), run.out());
      List<String> progress = run.out().lines().filter(l -> l.startsWith("progress ")).toList();
      assertTrue(progress.stream().anyMatch(l -> l.matches(".*calls [1-9]\\d* \\(in flight.*")),
          "progress lines while the calls run:\n" + run.out());
      assertTrue(progress.stream().anyMatch(l -> l.contains("conversations 0/242 done") && !l.contains("ETA ?")),
          "an ETA from the calls before any row is written:\n" + run.out());
      JsonNode manifest = Fixtures.manifest(work.resolve("out"));
      Fixtures.assertReconciles(manifest, rows + 2, rows, 1, 1);
      assertEquals("FlinkRunner", manifest.path("runner").asText(), manifest.toString());
      assertEquals(3 * rows, sim.requestCount(), "two proposers and the aggregator per row");
      for (String format : List.of("parquet", "avro")) {
        try (var files = Files.list(work.resolve("out/sft/" + format))) {
          assertEquals(List.of("part-00000-of-00002." + format, "part-00001-of-00002." + format),
              files.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("part-")).sorted().toList());
        }
      }
      assertEquals(rows, Fixtures.readParquet(work.resolve("out/sft/parquet")).size());
      assertTrue(Files.size(work.resolve("out/report.html")) > 10_000, "the report");
      assertTrue(Files.readString(work.resolve("out/README.md")).contains("sft/parquet"), "the dataset card");
    } finally {
      if (previous == null) {
        System.clearProperty(RunnerDefaults.DIRECT_MAX_ROWS_PROPERTY);
      } else {
        System.setProperty(RunnerDefaults.DIRECT_MAX_ROWS_PROPERTY, previous);
      }
    }
  }
}

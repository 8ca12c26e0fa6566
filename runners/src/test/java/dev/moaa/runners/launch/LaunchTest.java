package dev.moaa.runners.launch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.RunCommand;
import dev.moaa.pipelines.RunRequest;
import dev.moaa.pipelines.RunSpec;
import dev.moaa.pipelines.SftPipeline;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.beam.sdk.options.PipelineOptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The typed run entry as docs/usage.md shows it ("Running a pipeline from Java"), with values only. */
class LaunchTest {
  @Test
  void aRunStartedFromValues_reconcilesAndWritesItsDocuments(@TempDir Path dir) throws Exception {
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(0))) {
      Path cfg = dir.resolve("my-config.yaml");
      Files.writeString(cfg, "defaults: {base_url: " + sim.baseUrl() + ", max_concurrency: 4}\n"
          + "models:\n  p1: {model: sim-p1}\n  p2: {model: sim-p2}\n  agg: {model: sim-agg}\n"
          + "sft: {proposers: [p1, p2], aggregator: agg}\ncache: {backend: none}\n");
      Files.createDirectories(dir.resolve("data"));
      Files.writeString(dir.resolve("data/a.jsonl"), "{\"id\": \"1\", \"prompt\": \"hello\"}\n"
          + "{\"id\": \"2\", \"prompt\": \"why shards?\"}\n");

      MoaaConfig config = MoaaConfig.load(cfg);
      RunRequest request = RunRequest.of(config, RunSpec.of(config, dir + "/data/*.jsonl", dir + "/out/run1", null, null))
          .withOverwrite(true);
      PipelineOptions options = RunnerDefaults.options(List.of(), config);
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      RunCommand.Outcome outcome = Launch.run(SftPipeline.KIND, request, options,
          new PrintStream(out, true, StandardCharsets.UTF_8), System.err);

      assertEquals(0, outcome.exitCode(), out.toString(StandardCharsets.UTF_8));
      assertEquals(2, outcome.counts().read());
      assertEquals(2, outcome.counts().written());
      assertTrue(outcome.counts().reconciles());
      assertEquals("DONE", outcome.manifest().path("state").asText());
      assertTrue(Files.exists(dir.resolve("out/run1/report.html")) && Files.exists(dir.resolve("out/run1/README.md")));
    }
  }
}

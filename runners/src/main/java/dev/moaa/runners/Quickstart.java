package dev.moaa.runners;

import dev.moaa.pipelines.SftCommand;
import dev.moaa.runners.launch.RunnerDefaults;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * {@code moaa quickstart}: the SFT pipeline on a small bundled corpus (single- and multi-turn, four
 * row formats, three MT-Bench questions) against the simulated endpoint, on the DirectRunner.
 */
final class Quickstart {
  private static final List<String> SAMPLES = List.of("chat.jsonl", "mt_bench_sample.jsonl");

  private Quickstart() {}

  static int run(String[] args, PrintStream out, PrintStream err) {
    Path output = Paths.get("moaa-out", "quickstart");
    for (String a : args) {
      if (a.startsWith("--output=")) {
        output = Paths.get(a.substring("--output=".length()));
      } else {
        err.println("moaa quickstart: unknown flag " + a + " (only --output=DIR)");
        return 2;
      }
    }
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults()
        .withLatencyMs(150).withLatencyJitterMs(100).withMaxInFlightPerModel(16))) {
      out.println("Started the SIMULATED endpoint (deterministic fake answers, no real model) at " + sim.baseUrl());
      Path input = output.resolve("input");
      Files.createDirectories(input);
      for (String s : SAMPLES) {
        try (InputStream in = Quickstart.class.getResourceAsStream("quickstart/" + s)) {
          Files.copy(in, input.resolve(s), StandardCopyOption.REPLACE_EXISTING);
        }
      }
      Path config = output.resolve("quickstart-config.yaml");
      Files.writeString(config, config(sim.baseUrl()), StandardCharsets.UTF_8);
      out.println("Sample corpus: " + input.toAbsolutePath() + "   config: " + config.toAbsolutePath());
      String[] sftArgs = RunnerDefaults.withDirectDefaults(new String[] {
          "--config=" + config, "--input=" + input + "/*.jsonl", "--output=" + output, "--overwrite=true",
          // The sample takes seconds: a short interval, so a new user sees the progress line.
          "--progressSeconds=2"});
      int code = SftCommand.run(sftArgs, out, err);
      if (code == 0) {
        out.println();
        out.println("Done. Read the SFT shards with pyarrow (./run-tests puts it in .venv), for example:");
        out.println("  .venv/bin/python -c \"import pyarrow.parquet as pq; t = pq.read_table('"
            + output.toAbsolutePath().resolve("sft/parquet") + "'); print(t.schema); print(t.num_rows, 'rows')\"");
      }
      return code;
    } catch (IOException e) {
      err.println("moaa quickstart: " + e.getMessage());
      return 1;
    }
  }

  static String config(String baseUrl) {
    return """
        # Written by `moaa quickstart`: every model is served by the SIMULATED endpoint.
        defaults:
          base_url: %s
          temperature: 0.7
          max_tokens: 512
          max_concurrency: 16
          read_timeout_ms: 10000
          retry: {max_attempts: 4, initial_backoff_ms: 100, max_backoff_ms: 2000}
          price: {input_per_million: 0.60, output_per_million: 0.60}
        models:
          proposer-qwen: {model: sim-qwen-72b}
          proposer-llama: {model: sim-llama-70b}
          proposer-gemma: {model: sim-gemma-27b}
          aggregator: {model: sim-aggregator, price: {input_per_million: 0.90, output_per_million: 0.90}}
        sft:
          proposers: [proposer-qwen, proposer-llama, proposer-gemma]
          aggregator: aggregator
          layers: 2
          min_proposals: 2
        output:
          shards: 2
        # The sample holds three MT-Bench questions as realistic two-turn inputs; decontamination
        # (on by default) would drop them. Keep it on for a real corpus.
        clean:
          decontaminate: false
        """.formatted(baseUrl);
  }
}

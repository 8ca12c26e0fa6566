package dev.moaa.runners;

import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.RunCommand;
import dev.moaa.pipelines.RunRequest;
import dev.moaa.pipelines.RunSpec;
import dev.moaa.pipelines.SftPipeline;
import dev.moaa.runners.cli.Cli;
import dev.moaa.runners.launch.Launch;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code moaa quickstart}: the SFT pipeline on a small bundled corpus (single- and multi-turn, four
 * row formats, three MT-Bench questions) against the simulated endpoint, on the DirectRunner.
 */
@Command(name = "quickstart", mixinStandardHelpOptions = true,
    description = {"The SFT pipeline on a small bundled corpus against the SIMULATED endpoint, on the DirectRunner.",
        "Writes shards, dead letters, manifest, dataset card and report to the output folder."})
final class Quickstart implements Callable<Integer> {
  private static final List<String> SAMPLES = List.of("chat.jsonl", "mt_bench_sample.jsonl");

  @Option(names = "--output", paramLabel = "DIR", defaultValue = "moaa-out/quickstart",
      description = "Where the sample, its config and the results go (default: ${DEFAULT-VALUE}).")
  Path output;

  private final PrintStream out;
  private final PrintStream err;

  Quickstart(PrintStream out, PrintStream err) {
    this.out = out;
    this.err = err;
  }

  /** {@code moaa quickstart ARGS}: the exit code. */
  static int run(String[] args, PrintStream out, PrintStream err) {
    return Cli.execute(new Quickstart(out, err), args, out, err);
  }

  @Override
  public Integer call() {
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
      MoaaConfig c = MoaaConfig.load(config);
      // The sample takes seconds: a short interval, so a new user sees the progress line.
      RunRequest request = RunRequest.of(c, RunSpec.of(c, input + "/*.jsonl", output.toString(), null, null))
          .withOverwrite(true).withProgressSeconds(2);
      RunCommand.Outcome o = Launch.run(SftPipeline.KIND, request, Launch.directOptions(c), out, err);
      int code = o.exitCode();
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

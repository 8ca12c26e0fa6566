package dev.moaa.runners;

import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.RunRequest;
import dev.moaa.pipelines.RunSpec;
import dev.moaa.pipelines.SftPipeline;
import dev.moaa.runners.launch.Launch;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.beam.sdk.options.PipelineOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;

/**
 * {@code moaa bench-sft}: N single-turn prompts through P proposers and one aggregator, every model
 * on the simulated endpoint with latency L and an in-flight cap C per model. The bound is N·L/C
 * per model; with the stages overlapping the whole run needs about that plus one chain of calls.
 * Prints wall time, the bound and their ratio. {@code --allowed=A} configures {@code
 * max_concurrency} A instead of C, to measure how the adaptive gate finds a cap the config does not
 * know. A benchmark, not a test: figures go to docs/benchmarks.md.
 */
@Command(name = "bench-sft", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"The first SFT benchmark: wall time of N prompts against the bound N*L/C.",
        "N prompts go through P proposers and one aggregator on the simulated endpoint (latency L, at most C calls",
        "in flight per model)."},
    footer = "%nBeam's own flags (--runner, ...) pass through to Beam.")
final class SftBenchmark implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--prompts", paramLabel = "N", defaultValue = "1000", description = "Prompts (default: ${DEFAULT-VALUE}).")
  int n;

  @Option(names = "--proposers", paramLabel = "P", defaultValue = "4", description = "Proposer models (default: ${DEFAULT-VALUE}).")
  int proposers;

  @Option(names = "--latency-ms", paramLabel = "L", defaultValue = "500",
      description = "Latency of every simulated call (default: ${DEFAULT-VALUE}).")
  int latency;

  @Option(names = "--cap", paramLabel = "C", defaultValue = "32",
      description = "Calls in flight per model before the simulator answers 429 (default: ${DEFAULT-VALUE}).")
  int cap;

  @Option(names = "--layers", paramLabel = "N", defaultValue = "1", description = "Proposer layers (default: ${DEFAULT-VALUE}).")
  int layers;

  @Option(names = "--allowed", paramLabel = "A",
      description = "max_concurrency of the config (default: the cap), to measure how the adaptive limit finds the cap.")
  Integer allowedFlag;

  @Option(names = "--output", paramLabel = "DIR", defaultValue = "moaa-out/bench-sft",
      description = "Work folder (default: ${DEFAULT-VALUE}).")
  Path output;

  @Unmatched List<String> extra = new ArrayList<>();

  private final PrintStream out;
  private final PrintStream err;

  SftBenchmark(PrintStream out, PrintStream err) {
    this.out = out;
    this.err = err;
  }

  @Override
  public Integer call() {
    int allowed = allowedFlag == null ? cap : allowedFlag;
    // Beam's flags are checked before the simulator starts or a file is written
    PipelineOptions options = PipelineCommands.beamOptions(spec, extra);
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults()
        .withLatencyMs(latency).withMaxInFlightPerModel(cap).withRetryAfterMs(20)
        .withRequestLogLimit(Math.max(1, n * (proposers * layers + 1) + 1000)))) {
      Path input = output.resolve("input");
      Files.createDirectories(input);
      try (BufferedWriter w = Files.newBufferedWriter(input.resolve("prompts.jsonl"), StandardCharsets.UTF_8)) {
        for (int i = 0; i < n; i++) {
          w.write("{\"id\": \"bench-" + i + "\", \"prompt\": \"" + dev.moaa.runners.bench.BenchPrompts.prompt(i) + "\"}\n");
        }
      }
      StringBuilder models = new StringBuilder();
      StringBuilder names = new StringBuilder();
      for (int i = 1; i <= proposers; i++) {
        models.append("  p").append(i).append(": {model: sim-proposer-").append(i).append("}\n");
        names.append(i > 1 ? ", " : "").append("p").append(i);
      }
      String yaml = "defaults: {base_url: " + sim.baseUrl() + ", max_concurrency: " + allowed
          + ", max_tokens: 256, read_timeout_ms: " + (latency * 4 + 5000)
          + ", retry: {max_attempts: 8, initial_backoff_ms: 20, max_backoff_ms: 1000}}\n"
          + "models:\n" + models + "  agg: {model: sim-aggregator}\n"
          + "sft: {proposers: [" + names + "], aggregator: agg, layers: " + layers + ", min_proposals: " + proposers + "}\n"
          + "output: {shards: 4}\n"
          // A benchmark measures calls: no answer may come from an earlier run's cache.
          + "cache: {backend: none}\n";
      Path config = output.resolve("bench-config.yaml");
      Files.writeString(config, yaml, StandardCharsets.UTF_8);
      MoaaConfig c = MoaaConfig.load(config);
      PipelineCommands.withDefaults(options, extra, c);
      RunRequest request = RunRequest.of(c, RunSpec.of(c, input + "/prompts.jsonl", output.toString(), null, null))
          .withOverwrite(true);
      long t0 = System.nanoTime();
      int code = Launch.run(SftPipeline.KIND, request, options, out, err).exitCode();
      double wall = (System.nanoTime() - t0) / 1e9;
      double ideal = (double) n * layers * latency / 1000.0 / cap;
      double chain = (layers + 1) * latency / 1000.0;
      out.println();
      out.printf(Locale.ROOT, "bench-sft: %d prompts, %d proposers x %d layer(s) + aggregator, latency %d ms, cap %d per model"
          + " (config allows %d)%n", n, proposers, layers, latency, cap, allowed);
      out.printf(Locale.ROOT, "  wall %.1f s | ideal N*L/C %.1f s | ratio %.2f | bound with one chain %.1f s (ratio %.2f)%n",
          wall, ideal, wall / ideal, ideal + chain, wall / (ideal + chain));
      for (int i = 1; i <= proposers; i++) {
        String m = "sim-proposer-" + i;
        out.printf(Locale.ROOT, "  %-16s requests %6d  peak in flight %3d%n", m, sim.requestCount(m), sim.peakInFlight(m));
      }
      out.printf(Locale.ROOT, "  %-16s requests %6d  peak in flight %3d%n", "sim-aggregator",
          sim.requestCount("sim-aggregator"), sim.peakInFlight("sim-aggregator"));
      out.printf(Locale.ROOT, "  429 answers: %d of %d requests (%.1f%%)%n", sim.count429(), sim.requestCount(),
          100.0 * sim.count429() / Math.max(1, sim.requestCount()));
      // Stage overlap: with a barrier between proposers and aggregator, the first aggregator call
      // would arrive after every proposer call.
      long proposerCalls = 0;
      long beforeFirstAggregate = -1;
      for (var r : sim.requests()) {
        if (r.model().equals("sim-aggregator")) {
          if (beforeFirstAggregate < 0) {
            beforeFirstAggregate = proposerCalls;
          }
        } else {
          proposerCalls++;
        }
      }
      out.printf(Locale.ROOT, "  overlap: the first aggregator call arrived after %d of %d proposer calls (%.0f%%)%n",
          beforeFirstAggregate, proposerCalls, 100.0 * beforeFirstAggregate / Math.max(1, proposerCalls));
      return code;
    } catch (IOException e) {
      err.println("moaa bench-sft: " + e.getMessage());
      return 1;
    }
  }
}

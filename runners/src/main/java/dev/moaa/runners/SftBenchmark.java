package dev.moaa.runners;

import dev.moaa.pipelines.SftCommand;
import dev.moaa.runners.launch.RunnerDefaults;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code moaa bench-sft}: N single-turn prompts through P proposers and one aggregator, every model
 * on the simulated endpoint with latency L and an in-flight cap C per model. The bound is N·L/C
 * per model; with the stages overlapping the whole run needs about that plus one chain of calls.
 * Prints wall time, the bound and their ratio. {@code --allowed=A} configures {@code
 * max_concurrency} A instead of C, to measure how the adaptive gate finds a cap the config does not
 * know. A benchmark, not a test: figures go to docs/benchmarks.md.
 */
final class SftBenchmark {
  private SftBenchmark() {}

  static int run(String[] args, PrintStream out, PrintStream err) {
    Map<String, String> f = new HashMap<>(Map.of("prompts", "1000", "proposers", "4", "latency-ms", "500",
        "cap", "32", "layers", "1", "output", "moaa-out/bench-sft", "allowed", ""));
    List<String> extra = new ArrayList<>();
    for (String a : args) {
      int eq = a.indexOf('=');
      String k = a.startsWith("--") && eq > 2 ? a.substring(2, eq) : null;
      if (k != null && f.containsKey(k)) {
        f.put(k, a.substring(eq + 1));
      } else {
        extra.add(a); // Beam flags pass through
      }
    }
    int n = Integer.parseInt(f.get("prompts"));
    int proposers = Integer.parseInt(f.get("proposers"));
    int latency = Integer.parseInt(f.get("latency-ms"));
    int cap = Integer.parseInt(f.get("cap"));
    int layers = Integer.parseInt(f.get("layers"));
    int allowed = f.get("allowed").isEmpty() ? cap : Integer.parseInt(f.get("allowed"));
    Path output = Paths.get(f.get("output"));
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
      List<String> sftArgs = new ArrayList<>(List.of("--config=" + config, "--input=" + input + "/prompts.jsonl",
          "--output=" + output, "--overwrite=true"));
      sftArgs.addAll(extra);
      long t0 = System.nanoTime();
      int code = SftCommand.run(RunnerDefaults.withDirectDefaults(sftArgs.toArray(String[]::new)), out, err);
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

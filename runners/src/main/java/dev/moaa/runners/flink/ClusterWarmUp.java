package dev.moaa.runners.flink;

import dev.moaa.pipelines.RunCommand;
import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.RunRequest;
import dev.moaa.pipelines.RunSpec;
import dev.moaa.pipelines.SftPipeline;
import dev.moaa.runners.launch.Launch;
import dev.moaa.runners.bench.BenchPrompts;
import dev.moaa.runners.launch.RunnerDefaults;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.apache.beam.runners.flink.FlinkPipelineOptions;
import org.apache.beam.runners.flink.FlinkRunner;
import org.apache.beam.sdk.options.PipelineOptionsFactory;

/**
 * The first job of a freshly started local cluster, run by {@code moaa flink-cluster start} so that
 * the user's first job is not it: a small SFT run ({@value #PROMPTS} prompts, two proposers and an
 * aggregator) against a {@link SimulatedEndpoint} started for it in this process, answering at once.
 *
 * <p>A TaskManager's first job pays for what later jobs find done: loading the job classes (on the
 * cluster's class path, so loaded once per TaskManager), compiling the hot code of Flink, Beam and
 * this product, opening the network stack. Measured on W1 (2,000 prompts) on a 2 TaskManager
 * cluster on 2 cores: the first job called its first model 20.6 s after it was submitted, the
 * next ones after 6.4-6.8 s. The warm-up job reads, cleans, calls and writes like a real one; its
 * output folder is deleted afterwards. It needs the job classes on the cluster: a bare cluster
 * loads a job's classes per job, and a warm-up would mostly warm what the next job throws away.
 */
final class ClusterWarmUp {
  static final int PROMPTS = 64;

  private ClusterWarmUp() {}

  /** What the warm-up job did: its exit code, its seconds and, when it failed, its output. */
  record Result(int exitCode, double seconds, String output) {
    boolean ok() {
      return exitCode == 0;
    }
  }

  static Result run(Path clusterDir, String restAddress, int parallelism) throws IOException {
    Path work = clusterDir.resolve("warm-up");
    RunCommand.deleteRecursively(work);
    Files.createDirectories(work);
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    long t0 = System.nanoTime();
    int code;
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults()
            .withLatencyMs(0).withMaxInFlightPerModel(0).withModels(List.of("warm-proposer-1", "warm-proposer-2",
                "warm-aggregator")));
        PrintStream out = new PrintStream(log, true, StandardCharsets.UTF_8)) {
      Path input = work.resolve("prompts.jsonl");
      StringBuilder lines = new StringBuilder();
      for (int i = 0; i < PROMPTS; i++) {
        lines.append("{\"id\": \"warm-").append(i).append("\", \"prompt\": \"").append(BenchPrompts.prompt(i))
            .append("\"}\n");
      }
      Files.writeString(input, lines.toString(), StandardCharsets.UTF_8);
      Path config = work.resolve("warm-up.yaml");
      Files.writeString(config, config(sim.baseUrl()), StandardCharsets.UTF_8);
      MoaaConfig c = MoaaConfig.load(config);
      FlinkPipelineOptions options = PipelineOptionsFactory.create().as(FlinkPipelineOptions.class);
      options.setRunner(FlinkRunner.class);
      options.setFlinkMaster(restAddress);
      options.setParallelism(parallelism);
      options.setJobName("moaa-cluster-warm-up");
      RunnerDefaults.apply(options, Set.of("runner", "flinkMaster", "parallelism", "jobName"),
          RunnerDefaults.totalConcurrency(c));
      RunRequest request = RunRequest.of(c, RunSpec.of(c, input.toString(), work.resolve("run").toString(), null, null))
          .withOverwrite(true).withProgressSeconds(0);
      RunCommand.Outcome outcome = Launch.run(SftPipeline.KIND, request, options, out, out);
      code = outcome.exitCode();
    } catch (RuntimeException e) {
      code = 1;
      log.writeBytes(("the warm-up job failed: " + e + "\n").getBytes(StandardCharsets.UTF_8));
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    if (code == 0) {
      RunCommand.deleteRecursively(work);
    }
    return new Result(code, seconds, log.toString(StandardCharsets.UTF_8));
  }

  static String config(String baseUrl) {
    return "defaults: {base_url: " + baseUrl + ", max_concurrency: 16, max_tokens: 256, read_timeout_ms: 10000,"
        + " retry: {max_attempts: 4, initial_backoff_ms: 20, max_backoff_ms: 500}}\n"
        + "models:\n"
        + "  p1: {model: warm-proposer-1}\n"
        + "  p2: {model: warm-proposer-2}\n"
        + "  agg: {model: warm-aggregator}\n"
        + "sft: {proposers: [p1, p2], aggregator: agg, layers: 1, min_proposals: 2}\n"
        + "output: {shards: 2}\n"
        + "cache: {backend: none}\n";
  }
}

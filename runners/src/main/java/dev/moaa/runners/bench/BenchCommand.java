package dev.moaa.runners.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moaa.pipelines.DpoPipeline;
import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.RunCommand;
import dev.moaa.pipelines.RunRequest;
import dev.moaa.pipelines.SftPipeline;
import dev.moaa.runners.cli.Cli;
import dev.moaa.runners.cli.RunFlags;
import dev.moaa.runners.launch.Launch;
import dev.moaa.runners.launch.LocalRedis;
import dev.moaa.runners.launch.RunnerDefaults;
import dev.moaa.runners.sim.LatencyShape;
import dev.moaa.runners.sim.RecordedRequest;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.beam.sdk.options.PipelineOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Unmatched;

/**
 * {@code moaa bench --workload=W1|W2|W3|W4 …}: the benchmark suite. Starts the simulated
 * endpoint in this process with the workload's latency distribution, cap and fault rate, writes the
 * workload's input and config ({@code cache: {backend: none}}: every answer is a real call), runs
 * the pipeline in this process (DirectRunner unless Beam flags say otherwise) and prints, and writes
 * to {@code OUTPUT/bench.json}: wall time, the overlap bound and the barrier bound (see {@link
 * WorkloadPlan}), calls, 429s and peak in-flight per model, and the CPU seconds, GC and peak memory
 * of this process over the run. W4 then runs a plain load generator against the same simulator and
 * compares calls per second. The simulator runs in the same JVM, so CPU and memory include it.
 *
 * <p>A benchmark, not a test: it asserts nothing about time; figures go to docs/benchmarks.md.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"The benchmark suite: one workload against the simulated endpoint.",
        "Prints and writes to OUTPUT/bench.json the wall time against the endpoint bound, calls per model, CPU and",
        "peak memory.",
        "  W1  2,000 single-turn prompts, 4 proposers + aggregator, L=500 ms, C=32",
        "  W2  as W1 with 2 layers and 30%% two-turn conversations",
        "  W3  DPO: 500 prompts, K=5, all pairs, moa judge (3 judges + lead), L=300 ms, C=64",
        "  W4  overhead: W1's topology at L=0, no endpoint cap (config allows 32 per model), against a",
        "      plain load generator on the same simulator"},
    footer = "%nBeam's own flags (--runner, ...) and the pipeline's (--preflight, ...) pass through to the run.")
public final class BenchCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--workload", paramLabel = "W1|W2|W3|W4", defaultValue = "W1", description = "The workload (default: ${DEFAULT-VALUE}).")
  String workload;

  @Option(names = "--prompts", paramLabel = "N", description = "Prompts (default: the workload's).")
  Integer prompts;

  @Option(names = "--latency-ms", paramLabel = "L", description = "The simulated latency (default: the workload's).")
  Integer latencyMs;

  @Option(names = "--latency", paramLabel = "fixed|longtail", defaultValue = "fixed",
      description = "The latency's shape (default: ${DEFAULT-VALUE}).")
  String latency;

  @Option(names = "--cap", paramLabel = "C", description = "The endpoint's in-flight cap per model, 429 beyond; 0 = none"
      + " (default: the workload's).")
  Integer cap;

  @Option(names = "--allowed", paramLabel = "A", description = "The config's max_concurrency per model, applied in each of"
      + " --jvms JVMs (default: the cap).")
  Integer allowed;

  @Option(names = "--fault-rate", paramLabel = "F", defaultValue = "0", description = "Share of attempts answered 5xx"
      + " (default: ${DEFAULT-VALUE}).")
  double faultRate;

  @Option(names = "--output", paramLabel = "DIR", description = "Work folder (default: moaa-out/bench/WORKLOAD).")
  Path output;

  @Option(names = "--duration-s", paramLabel = "S", defaultValue = "10", description = "W4's load generator: seconds"
      + " (default: ${DEFAULT-VALUE}).")
  double durationS;

  @Option(names = "--workers", paramLabel = "N", defaultValue = "32", description = "W4's load generator: workers"
      + " (default: ${DEFAULT-VALUE}).")
  int workers;

  @Option(names = "--jvms", paramLabel = "N", defaultValue = "1", description = "JVMs the run's limits apply in (the"
      + " TaskManagers of a cluster: give --allowed=cap/N --jvms=N) (default: ${DEFAULT-VALUE}).")
  int jvms;

  @Option(names = "--queue-slots", paramLabel = "S", defaultValue = "0", description = "The simulator queues beyond S"
      + " requests per model instead of answering 429 (default: ${DEFAULT-VALUE}).")
  int queueSlots;

  @Option(names = "--adaptive", paramLabel = "latency|aimd|fixed", defaultValue = "",
      description = "The config's adaptive limit (fixed: max_concurrency as given).")
  String adaptive;

  @Option(names = "--coordination", paramLabel = "redis|none", defaultValue = "none",
      description = "Limits shared through a local redis-server (default: ${DEFAULT-VALUE}).")
  String coordination;

  @Option(names = "--process", paramLabel = "./moaa|java|PATH", defaultValue = "",
      description = "Run the pipeline as a child process started by that launcher (java: java -jar on this jar) and"
          + " time the whole process, start to exit.")
  String process;

  @Option(names = "--resident", paramLabel = "on|off", defaultValue = "on",
      description = "With --process and a launcher: whether its commands may run in the launcher's resident JVM (on, the"
          + " launcher's default: the first run starts it; off: every run in a JVM of its own, whose heap after each"
          + " collection is reported) (default: ${DEFAULT-VALUE}).")
  String resident;

  @Option(names = "--repeat", paramLabel = "N", defaultValue = "1", description = "With --process: runs, medians reported"
      + " (default: ${DEFAULT-VALUE}).")
  int repeat;

  @Option(names = "--initial-concurrency", paramLabel = "N|default",
      description = "Where the adaptive limit starts; without it, at --allowed when the endpoint takes exactly that"
          + " many (no slow start), else the config's default.")
  String initialConcurrency;

  @Option(names = "--batch-proposers", paramLabel = "DELAY_MS",
      description = "SFT workloads: the proposers in batch execution (the simulator's Batch API, each batch answered"
          + " DELAY_MS after it is created) while the aggregator stays online.")
  Integer batchProposers;

  @Unmatched List<String> passThrough = new ArrayList<>();

  private final PrintStream out;
  private final PrintStream err;

  public BenchCommand(PrintStream out, PrintStream err) {
    this.out = out;
    this.err = err;
  }

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** The benchmark's settings, defaults filled in from the workload. */
  record Options(Workload workload, int prompts, int latencyMs, LatencyShape shape, int cap, int allowed,
      double faultRate, Path output, double durationS, int workers, List<String> beamArgs, int jvms,
      int queueSlots, String adaptive, boolean coordination, String process, int repeat, int initialConcurrency,
      int batchDelayMs, boolean resident) {

    /** The options of {@code moaa bench ARGS}, checked. */
    static Options parse(String[] args) {
      BenchCommand command = new BenchCommand(null, null);
      try {
        new picocli.CommandLine(command).parseArgs(args);
      } catch (ParameterException e) {
        throw new IllegalArgumentException(Cli.message(e), e);
      }
      return command.options();
    }

    static Options of(BenchCommand f) {
      Workload w = Workload.parse(f.workload);
      int cap = f.cap == null ? w.defaultCap() : f.cap;
      int allowed = f.allowed == null ? (cap > 0 ? cap : Workload.W4_ALLOWED) : f.allowed;
      int initial;
      if (f.initialConcurrency == null) {
        initial = 0;
      } else if (f.initialConcurrency.equals("default")) {
        initial = SLOW_START;
      } else {
        try {
          initial = Integer.parseInt(f.initialConcurrency.trim());
        } catch (NumberFormatException e) {
          throw new IllegalArgumentException("--initial-concurrency needs a whole number, got '" + f.initialConcurrency + "'");
        }
      }
      Options o = new Options(w, f.prompts == null ? w.defaultPrompts() : f.prompts,
          f.latencyMs == null ? w.defaultLatencyMs() : f.latencyMs, LatencyShape.parse(f.latency), cap, allowed,
          f.faultRate, f.output == null ? Paths.get("moaa-out/bench/" + w.name().toLowerCase(Locale.ROOT)) : f.output,
          f.durationS, f.workers, List.copyOf(f.passThrough), f.jvms, f.queueSlots, f.adaptive,
          parseCoordination(f.coordination), f.process, f.repeat, initial, f.batchProposers == null ? -1 : f.batchProposers,
          parseOnOff("--resident", f.resident));
      if (o.initialConcurrency < SLOW_START || o.initialConcurrency > o.allowed) {
        throw new IllegalArgumentException("--initial-concurrency is between 1 and --allowed, or 'default'");
      }
      if (o.repeat < 1 || o.repeat > 1 && o.process.isEmpty()) {
        throw new IllegalArgumentException("--repeat is at least 1, and above 1 only with --process");
      }
      if (!o.process.isEmpty() && (o.workload == Workload.W4 || o.coordination)) {
        throw new IllegalArgumentException("--process times W1-W3 without --coordination");
      }
      if (!List.of("", "latency", "aimd", "fixed").contains(o.adaptive)) {
        throw new IllegalArgumentException("--adaptive must be latency, aimd or fixed, got '" + o.adaptive + "'");
      }
      if (o.queueSlots < 0) {
        throw new IllegalArgumentException("--queue-slots must not be negative");
      }
      if (o.prompts < 1 || o.latencyMs < 0 || o.cap < 0 || o.allowed < 1 || o.faultRate < 0 || o.faultRate >= 1
          || o.durationS <= 0 || o.workers < 1 || o.jvms < 1) {
        throw new IllegalArgumentException("--prompts, --allowed, --workers and --jvms must be at least 1, --latency-ms and"
            + " --cap not negative, --fault-rate within [0, 1), --duration-s positive");
      }
      return o;
    }

    private static boolean parseOnOff(String flag, String v) {
      return switch (v) {
        case "on" -> true;
        case "off" -> false;
        default -> throw new IllegalArgumentException(flag + " must be on or off, got '" + v + "'");
      };
    }

    private static boolean parseCoordination(String v) {
      return switch (v) {
        case "redis" -> true;
        case "none" -> false;
        default -> throw new IllegalArgumentException("--coordination must be redis or none, got '" + v + "'");
      };
    }

    /**
     * The cap the bound divides by: the endpoint's, or the config's own limit (applied in each of
     * {@code jvms} JVMs: the TaskManagers of a cluster) when that is lower or the endpoint has none.
     */
    int effectiveCap() {
      long configured = coordination ? allowed : (long) allowed * jvms;
      long server = queueSlots > 0 ? queueSlots : cap;
      return (int) (server > 0 ? Math.min(server, configured) : configured);
    }
  }

  /** {@code moaa bench ARGS}: the exit code. */
  public static int run(String[] args, PrintStream out, PrintStream err) {
    return Cli.execute(new BenchCommand(out, err), args, out, err);
  }

  /** The parsed flags, checked. */
  Options options() {
    return Options.of(this);
  }

  @Override
  public Integer call() {
    Options options;
    try {
      options = options();
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
    Cli.checkPassThrough(spec, options.beamArgs());
    // the flags passed through are checked before the simulator starts or a file is written
    List<String> beam;
    try {
      beam = RunFlags.split(options.beamArgs()).rest();
    } catch (IllegalArgumentException e) {
      throw new ParameterException(spec.commandLine(), e.getMessage());
    }
    Cli.beamOptions(spec, beam);
    try {
      ObjectNode report = run(options, spec, out, err);
      return report.path("exit_code").asInt(1);
    } catch (IOException e) {
      err.println("moaa bench: " + e.getMessage());
      return 1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      err.println("moaa bench: interrupted");
      return 1;
    }
  }

  /** Runs one workload, prints the figures and returns what it wrote to {@code bench.json}. */
  static ObjectNode run(Options o, CommandSpec spec, PrintStream out, PrintStream err)
      throws IOException, InterruptedException {
    Workload w = o.workload();
    WorkloadPlan plan = w.dpo()
        ? WorkloadPlan.dpo(o.prompts(), Workload.DPO_K, Workload.DPO_JUDGES)
        : WorkloadPlan.sft(o.prompts(), Workload.PROPOSERS, w.layers(), w.twoTurnShare());
    SimulatedEndpoint.Settings settings = SimulatedEndpoint.Settings.defaults()
        .withLatencyMs(o.latencyMs()).withLatencyShape(o.shape()).withMaxInFlightPerModel(o.cap())
        .withRetryAfterMs(20).withRate5xx(o.faultRate()).withRequestLogLimit(100_000)
        .withQueueSlots(o.queueSlots())
        .withModels(List.copyOf(plan.calls().keySet()));
    if (o.batchDelayMs() >= 0) {
      if (w.dpo()) {
        throw new IllegalArgumentException("--batch-proposers applies to the SFT workloads (W1-W3 without DPO)");
      }
      settings = settings.toBuilder().batchDelayMs(o.batchDelayMs()).build();
    }
    Path output = o.output();
    Files.createDirectories(output);
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(settings);
        LocalRedis redis = o.coordination() ? LocalRedis.start() : null) {
      Path input = writeInput(o, output.resolve("input"));
      Path config = output.resolve("bench-config.yaml");
      String coordination = redis == null ? ""
          : "coordination: {backend: redis, url: " + redis.url() + ", key: bench-" + System.nanoTime() + "}\n";
      Files.writeString(config, (w.dpo() ? dpoConfig(o, sim.baseUrl()) : sftConfig(o, sim.baseUrl())) + coordination,
          StandardCharsets.UTF_8);
      // the figures count the workload's calls; --preflight=true measures the probes too
      boolean preflight = RunnerDefaults.given(o.beamArgs()).contains("preflight");
      if (!o.process().isEmpty()) {
        // the run as a user types it: the child process's own command line
        List<String> runArgs = new ArrayList<>(List.of("--config=" + config, "--input=" + input,
            "--output=" + output.resolve("run"), "--overwrite=true"));
        runArgs.addAll(o.beamArgs());
        if (!preflight) {
          runArgs.add("--preflight=false");
        }
        return processRuns(o, plan, sim, runArgs, output, out);
      }
      MoaaConfig c = MoaaConfig.load(config);
      // the pipeline's own flags among those passed through, read by the same declarations as moaa sft's
      RunFlags.Split split = RunFlags.split(o.beamArgs());
      RunFlags flags = split.flags();
      List<String> beam = split.rest();
      PipelineOptions options;
      try {
        options = RunnerDefaults.options(beam, c);
      } catch (IllegalArgumentException e) {
        if (spec == null) {
          throw e;
        }
        throw Cli.beamRefused(spec, beam, e);
      }
      RunRequest request = flags.request(c, input.toString(), output.resolve("run").toString(), true)
          .withPreflight(preflight && flags.preflight());

      ProcessProbe probe = ProcessProbe.start();
      long t0 = System.nanoTime();
      RunCommand.Outcome outcome = Launch.run(w.dpo() ? DpoPipeline.KIND : SftPipeline.KIND, request, options, out, err);
      double wall = (System.nanoTime() - t0) / 1e9;
      ProcessProbe.Usage usage = probe.stop();

      ObjectNode report = report(o, plan, sim, outcome, wall, t0, usage);
      if (w == Workload.W4) {
        sim.reset();
        LoadGenerator.Result gen = LoadGenerator.run(sim.baseUrl(), List.copyOf(plan.calls().keySet()),
            o.workers(), o.durationS(), Math.min(2.0, o.durationS() / 5));
        ObjectNode g = report.putObject("load_generator");
        g.put("workers", gen.workers());
        g.put("seconds", gen.seconds());
        g.put("ok", gen.ok());
        g.put("failed", gen.failed());
        g.put("requests_per_s", round(gen.requestsPerSecond()));
        g.put("cpu_ms_per_request", gen.ok() == 0 ? 0 : round(gen.cpuSeconds() * 1000 / gen.ok()));
        // Both are steady rates: the generator's after its warm-up, the pipeline's over the middle
        // 80% of its calls (its first-to-last rate, ramp-up and drain included, is kept beside it).
        double steady = report.path("pipeline_calls_per_s_steady").asDouble();
        double firstToLast = report.path("pipeline_calls_per_s_sustained").asDouble();
        double genRate = gen.requestsPerSecond();
        report.put("pipeline_over_generator", genRate == 0 ? 0 : round(steady / genRate));
        report.put("pipeline_first_to_last_over_generator", genRate == 0 ? 0 : round(firstToLast / genRate));
      }
      Files.writeString(output.resolve("bench.json"), JSON.writeValueAsString(report), StandardCharsets.UTF_8);
      print(report, out);
      out.println("  written: " + output.resolve("bench.json"));
      return report;
    }
  }

  /**
   * {@code --process}: the pipeline in a child process, started {@code --repeat} times against the
   * same endpoint (reset before each), each timed from its start to its exit; bench.json holds every
   * run and the medians.
   */
  private static ObjectNode processRuns(Options o, WorkloadPlan plan, SimulatedEndpoint sim, List<String> runArgs,
      Path output, PrintStream out) throws IOException, InterruptedException {
    List<String> command = ProcessBench.command(o.process());
    List<String> args = new ArrayList<>(List.of(o.workload().dpo() ? "dpo" : "sft"));
    args.addAll(runArgs);
    int limit = o.effectiveCap();
    Map<String, Integer> limits = new LinkedHashMap<>();
    plan.calls().keySet().forEach(m -> limits.put(m, limit));
    double meanMs = o.shape().meanMs(o.latencyMs());
    double bound = plan.boundSeconds(meanMs, limit);
    long mostCalls = plan.calls().values().stream().mapToLong(Long::longValue).max().orElse(0);
    double callBound = mostCalls * meanMs / 1000.0 / limit;
    ObjectNode r = JSON.createObjectNode();
    r.put("workload", o.workload().name());
    r.put("simulated", true);
    r.put("mode", "whole process");
    r.putArray("command").addAll(command.stream().map(JSON.getNodeFactory()::textNode).toList());
    r.put("resident_jvm", ProcessBench.residentLauncher(command, o.resident()));
    r.put("prompts", o.prompts());
    r.put("latency_ms", o.latencyMs());
    r.put("limit_per_model", limit);
    r.put("initial_concurrency", initialConcurrency(o) == 0 ? "default" : String.valueOf(initialConcurrency(o)));
    r.put("bound_s", round(bound));
    r.put("call_bound_s", round(callBound));
    r.put("bound_formula", plan.formula() + "; call bound: the busiest model's calls*L/C");
    ArrayNode runs = r.putArray("runs");
    List<Double> walls = new ArrayList<>();
    List<Double> firsts = new ArrayList<>();
    List<Double> exits = new ArrayList<>();
    List<Double> ramps = new ArrayList<>();
    int worstExit = 0;
    for (int i = 1; i <= o.repeat(); i++) {
      sim.reset();
      Path log = output.resolve("process-" + i + ".log");
      Path gcLog = output.resolve("process-" + i + ".gc.log");
      long[] timing = ProcessBench.start(command, args, log, gcLog, o.resident());
      List<RecordedRequest> recorded = sim.requests();
      ProcessBench.Run run = ProcessBench.measure(timing, recorded, limits);
      if (recorded.size() < sim.requestCount()) {
        // the endpoint keeps only its latest requests: the first call and the ramps are not known
        out.printf(Locale.ROOT, "  (the endpoint kept the last %,d of %,d requests: no first call or ramp figures)%n",
            recorded.size(), sim.requestCount());
        run = new ProcessBench.Run(run.exitCode(), run.wallS(), Double.NaN, run.exitAfterLastAnswerS(), Map.of());
      }
      ProcessBench.HeapAfterGc heap = ProcessBench.HeapAfterGc.read(gcLog, run.wallS());
      String reconciled = Files.readAllLines(log).stream().map(String::trim).filter(l -> l.matches("read \\d+ = .*"))
          .findFirst().orElse("no reconciliation line");
      out.printf(Locale.ROOT, "  run %d: %s%n", i, ProcessBench.describe(run));
      out.printf(Locale.ROOT, "    %s | %s | %,d requests, %.0f calls/s over the wall time%n", reconciled,
          ProcessBench.residentLauncher(command, o.resident()) ? "heap not measured (the launcher's resident JVM)"
              : heap.describe(), sim.requestCount(), sim.requestCount() / run.wallS());
      ObjectNode n = runs.addObject();
      n.put("exit_code", run.exitCode());
      n.put("wall_s", round(run.wallS()));
      n.put("first_call_after_start_s", round(run.firstCallS()));
      n.put("exit_after_last_answer_s", round(run.exitAfterLastAnswerS()));
      ObjectNode ramp = n.putObject("ramp_to_limit_s");
      run.rampS().forEach((m, v) -> ramp.put(m, Double.isNaN(v) ? -1 : round(v)));
      n.put("requests", sim.requestCount());
      n.put("rate_limited_429", sim.count429());
      n.put("log", log.toString());
      n.put("reconciliation", reconciled);
      n.put("child_heap_after_gc_peak_mb", ProcessBench.HeapAfterGc.mb(heap.peakBytes()));
      ArrayNode quarters = n.putArray("child_heap_after_gc_by_quarter_mb");
      heap.byQuarterBytes().forEach(b -> quarters.add(ProcessBench.HeapAfterGc.mb(b)));
      n.put("gc_log", gcLog.toString());
      walls.add(run.wallS());
      firsts.add(run.firstCallS());
      exits.add(run.exitAfterLastAnswerS());
      // a pool that never reached its limit: the slowest possible ramp, not a missing value
      ramps.add(Double.isNaN(run.slowestRampS()) ? Double.POSITIVE_INFINITY : run.slowestRampS());
      worstExit = Math.max(worstExit, run.exitCode());
    }
    double wall = ProcessBench.median(walls);
    ObjectNode m = r.putObject("median");
    m.put("wall_s", round(wall));
    m.put("ratio_to_bound", round(wall / bound));
    m.put("ratio_to_call_bound", round(wall / callBound));
    m.put("first_call_after_start_s", round(ProcessBench.median(firsts)));
    m.put("exit_after_last_answer_s", round(ProcessBench.median(exits)));
    double ramp = ProcessBench.median(ramps);
    m.put("slowest_ramp_to_limit_s", Double.isInfinite(ramp) ? -1 : round(ramp));
    r.put("exit_code", worstExit);
    Files.writeString(output.resolve("bench.json"), JSON.writeValueAsString(r), StandardCharsets.UTF_8);
    out.println();
    out.printf(Locale.ROOT, "moaa bench %s --process (SIMULATED endpoint in this JVM, pipeline in a child process: %s):"
        + " %d prompts, latency %d ms, %d per model%n", o.workload().name(), String.join(" ", command), o.prompts(),
        o.latencyMs(), limit);
    out.printf(Locale.ROOT, "  median of %d: wall %.2f s | bound %.2f s (ratio %.2f) | call bound %.2f s (ratio %.2f)%n",
        o.repeat(), wall, bound, wall / bound, callBound, wall / callBound);
    out.printf(Locale.ROOT, "  first call %.2f s after the start | exit %.2f s after the last answer | every pool at"
        + " its limit %s s after its first call%n", ProcessBench.median(firsts), ProcessBench.median(exits),
        Double.isInfinite(ramp) ? "never (in some run)" : String.format(Locale.ROOT, "%.2f", ramp));
    out.println("  written: " + output.resolve("bench.json"));
    return r;
  }

  // ---------------------------------------------------------------------------------------------
  // inputs and configs

  private static Path writeInput(Options o, Path dir) throws IOException {
    Files.createDirectories(dir);
    Path file = dir.resolve("prompts.jsonl");
    double share = o.workload().twoTurnShare();
    try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
      for (int i = 0; i < o.prompts(); i++) {
        String first = BenchPrompts.prompt(i);
        if (!o.workload().dpo() && WorkloadPlan.twoTurns(i, share)) {
          w.write("{\"id\": \"bench-" + i + "\", \"messages\": [{\"role\": \"user\", \"content\": \"" + first + "\"},"
              + " {\"role\": \"assistant\", \"content\": \"An earlier answer.\"},"
              + " {\"role\": \"user\", \"content\": \"Follow-up " + i + ": give a concrete example.\"}]}\n");
        } else {
          w.write("{\"id\": \"bench-" + i + "\", \"prompt\": \"" + first + "\"}\n");
        }
      }
    }
    return file;
  }

  /** {@code --initial-concurrency=default}: the config's own default start (a slow start from 8). */
  static final int SLOW_START = -1;

  /**
   * Where the bench's config starts each model's limit: as given; else at {@code --allowed} when
   * the simulated endpoint takes exactly that many in flight and answers 429 beyond (the limit is
   * known, as a user who set {@code max_concurrency} to a server's capacity would say with {@code
   * initial_concurrency}); 0 for the config's default.
   */
  static int initialConcurrency(Options o) {
    if (o.initialConcurrency() != 0) {
      return Math.max(0, o.initialConcurrency());
    }
    boolean known = o.queueSlots() == 0 && o.cap() > 0 && (o.coordination() ? o.allowed() : o.allowed() * o.jvms()) == o.cap();
    return known ? o.allowed() : 0;
  }

  private static String defaults(Options o, String baseUrl) {
    long slowest = (long) o.latencyMs() * (o.shape() == LatencyShape.FIXED ? 1 : LatencyShape.TAIL_CAP_MEDIANS);
    String adaptive = switch (o.adaptive()) {
      case "fixed" -> ", adaptive_concurrency: false";
      case "aimd", "latency" -> ", adaptive_mode: " + o.adaptive();
      default -> "";
    };
    if (initialConcurrency(o) > 0 && !"fixed".equals(o.adaptive())) {
      adaptive += ", initial_concurrency: " + initialConcurrency(o);
    }
    return "defaults: {base_url: " + baseUrl + ", max_concurrency: " + o.allowed() + adaptive
        + ", max_tokens: 256, read_timeout_ms: " + (slowest * 2 + 5000)
        + ", retry: {max_attempts: 8, initial_backoff_ms: 20, max_backoff_ms: 1000}"
        // a price, so that the figures say what the run would cost (and a batch run, at what discount)
        + ", price: {input_per_million: 1.0, output_per_million: 1.0}}\n";
  }

  static String sftConfig(Options o, String baseUrl) {
    StringBuilder models = new StringBuilder();
    StringBuilder names = new StringBuilder();
    for (int i = 1; i <= Workload.PROPOSERS; i++) {
      models.append("  p").append(i).append(": {model: ").append(WorkloadPlan.proposer(i))
          .append(o.batchDelayMs() < 0 ? "" : ", execution: batch, batch: {flush_ms: 1000, poll_ms: 200, max_requests: 50000}")
          .append("}\n");
      names.append(i > 1 ? ", " : "").append("p").append(i);
    }
    return defaults(o, baseUrl)
        + "models:\n" + models + "  agg: {model: " + WorkloadPlan.AGGREGATOR + "}\n"
        + "sft: {proposers: [" + names + "], aggregator: agg, layers: " + o.workload().layers()
        + ", min_proposals: " + Workload.PROPOSERS + "}\n"
        + "output: {shards: 4}\n"
        // A benchmark measures calls: no answer may come from an earlier run's cache.
        + "cache: {backend: none}\n";
  }

  static String dpoConfig(Options o, String baseUrl) {
    StringBuilder models = new StringBuilder("  policy: {model: " + WorkloadPlan.POLICY + "}\n");
    StringBuilder judges = new StringBuilder();
    for (int i = 1; i <= Workload.DPO_JUDGES; i++) {
      models.append("  j").append(i).append(": {model: ").append(WorkloadPlan.judge(i)).append("}\n");
      judges.append(i > 1 ? ", " : "").append("j").append(i);
    }
    return defaults(o, baseUrl)
        + "models:\n" + models + "  lead: {model: " + WorkloadPlan.LEAD + "}\n"
        + "dpo: {policy: policy, k: " + Workload.DPO_K + ", seed: 100,"
        + " judge: {mode: moa, judges: [" + judges + "], aggregator: lead}}\n"
        + "output: {shards: 4}\n"
        + "cache: {backend: none}\n";
  }

  // ---------------------------------------------------------------------------------------------
  // figures

  private static ObjectNode report(Options o, WorkloadPlan plan, SimulatedEndpoint sim, RunCommand.Outcome outcome,
      double wall, long t0, ProcessProbe.Usage usage) {
    ObjectNode r = JSON.createObjectNode();
    r.put("workload", o.workload().name());
    r.put("simulated", true);
    ObjectNode s = r.putObject("settings");
    s.put("prompts", o.prompts());
    s.put("latency_ms", o.latencyMs());
    s.put("latency", o.shape().flag());
    double meanMs = o.shape().meanMs(o.latencyMs());
    s.put("mean_latency_ms", round(meanMs));
    s.put("cap", o.cap());
    s.put("allowed", o.allowed());
    s.put("jvms", o.jvms());
    s.put("fault_rate", o.faultRate());
    s.put("queue_slots", o.queueSlots());
    s.put("adaptive", o.adaptive().isEmpty() ? "default" : o.adaptive());
    s.put("initial_concurrency", initialConcurrency(o) == 0 ? "default" : String.valueOf(initialConcurrency(o)));
    s.put("coordination", o.coordination() ? "redis" : "none");
    s.put("layers", o.workload().layers());
    s.put("two_turn_share", o.workload().twoTurnShare());
    ArrayNode beam = s.putArray("beam_args");
    o.beamArgs().forEach(beam::add);
    s.put("processors", Runtime.getRuntime().availableProcessors());
    s.put("java", System.getProperty("java.version"));

    r.put("exit_code", outcome.exitCode());
    if (outcome.manifest() != null) {
      r.put("estimated_cost_usd", outcome.manifest().path("totals").path("estimated_cost_usd").asDouble());
    }
    if (o.batchDelayMs() >= 0) {
      ObjectNode b = r.putObject("batches");
      b.put("delay_ms", o.batchDelayMs());
      b.put("submitted", sim.batchesSubmitted().size());
      b.put("requests", sim.batchesSubmitted().stream().mapToInt(x -> x.customIds().size()).sum());
    }
    if (outcome.counts() != null) {
      ObjectNode c = r.putObject("records");
      c.put("read", outcome.counts().read());
      c.put("written", outcome.counts().written());
      c.put("dead_lettered", outcome.counts().deadLettered());
      c.put("dropped", outcome.counts().dropped());
    }
    r.put("wall_s", round(wall));
    int capForBound = o.effectiveCap();
    r.put("bound_cap", capForBound);
    r.put("bound_formula", plan.formula());
    if (meanMs > 0) {
      double bound = plan.boundSeconds(meanMs, capForBound);
      double barrier = plan.barrierBoundSeconds(meanMs, capForBound);
      r.put("bound_s", round(bound));
      r.put("ratio", round(wall / bound));
      r.put("barrier_bound_s", round(barrier));
      r.put("barrier_ratio", round(wall / barrier));
    }

    ObjectNode models = r.putObject("models");
    long ok = 0;
    long firstArrival = Long.MAX_VALUE;
    long lastArrival = 0;
    double busiestBusy = 0;
    for (Map.Entry<String, Long> e : plan.calls().entrySet()) {
      String m = e.getKey();
      ObjectNode n = models.putObject(m);
      long[] span = sim.arrivalSpanNanos(m);
      n.put("expected_calls", e.getValue());
      n.put("ok", sim.statusCount(m, 200));
      n.put("requests", sim.requestCount(m));
      n.put("rate_limited_429", sim.statusCount(m, 429));
      n.put("server_errors_5xx", sim.statusCount(m, 500) + sim.statusCount(m, 502) + sim.statusCount(m, 503));
      n.put("peak_in_flight", sim.peakInFlight(m));
      if (o.queueSlots() > 0) {
        n.put("peak_queued", sim.peakQueueLength(m));
        List<Long> waits = new ArrayList<>();
        sim.requests().stream().filter(q -> m.equals(q.model())).forEach(q -> waits.add(q.queuedMs()));
        waits.sort(null);
        n.put("median_queued_ms", waits.isEmpty() ? 0 : waits.get(waits.size() / 2));
        n.put("median_latency_ms", waits.isEmpty() ? 0 : waits.get(waits.size() / 2) + o.latencyMs());
      }
      n.put("busy_s", round(sim.busyMs(m) / 1000.0));
      if (span[0] != 0) {
        n.put("first_call_s", round((span[0] - t0) / 1e9));
        n.put("last_call_s", round((span[1] - t0) / 1e9));
        firstArrival = Math.min(firstArrival, span[0]);
        lastArrival = Math.max(lastArrival, span[1]);
      }
      ok += sim.statusCount(m, 200);
      busiestBusy = Math.max(busiestBusy, sim.busyMs(m) / 1000.0);
    }
    r.put("calls_ok", ok);
    r.put("requests", sim.requestCount());
    r.put("rate_limited_429", sim.count429());
    // The bound from the latencies the simulator actually drew (long tail, faults and retries included).
    r.put("busy_bound_s", round(busiestBusy / capForBound));
    r.put("stage_overlap", round(overlap(o, plan, sim)));
    if (firstArrival != Long.MAX_VALUE) {
      r.put("first_call_after_s", round((firstArrival - t0) / 1e9));
      r.put("last_call_before_end_s", round(wall - (lastArrival - t0) / 1e9));
    }
    r.put("pipeline_calls_per_s", round(ok / wall));
    double span = (lastArrival - firstArrival) / 1e9;
    r.put("pipeline_calls_per_s_sustained", firstArrival == Long.MAX_VALUE || span <= 0 ? 0 : round(ok / span));
    r.put("pipeline_calls_per_s_steady", round(sim.steadyRequestsPerSecond()));

    ObjectNode p = r.putObject("process");
    p.put("cpu_s", round(usage.cpuSeconds()));
    p.put("cpu_ms_per_call", ok == 0 ? 0 : round(usage.cpuSeconds() * 1000 / ok));
    p.put("cores_busy", round(usage.cpuSeconds() / wall));
    p.put("gc_s", round(usage.gcSeconds()));
    p.put("gc_count", usage.gcCount());
    p.put("peak_heap_mb", mb(usage.peakHeapBytes()));
    p.put("peak_heap_after_gc_mb", usage.peakHeapAfterGcBytes() < 0 ? -1 : mb(usage.peakHeapAfterGcBytes()));
    var quarters = p.putArray("heap_after_gc_by_quarter_mb");
    usage.heapAfterGcByQuarterBytes().forEach(b -> quarters.add(b < 0 ? -1 : mb(b)));
    p.put("peak_non_heap_mb", mb(usage.peakNonHeapBytes()));
    p.put("max_heap_mb", mb(usage.maxHeapBytes()));
    p.put("peak_rss_mb", usage.peakRssBytes() < 0 ? -1 : mb(usage.peakRssBytes()));
    p.put("peak_rss_since", usage.rssPeakReset() ? "run start" : "process start");
    p.put("includes_simulator", true);
    return r;
  }

  /**
   * How much the first and the last stage ran at the same time: the share of the first stage's
   * arrival span (first to last call of its first model) that was left when the last stage's first
   * call arrived. 0 is a barrier; near 1, the last stage started right after the first.
   */
  private static double overlap(Options o, WorkloadPlan plan, SimulatedEndpoint sim) {
    String first = plan.calls().keySet().iterator().next();
    String last = o.workload().dpo() ? WorkloadPlan.judge(1) : WorkloadPlan.AGGREGATOR;
    long[] a = sim.arrivalSpanNanos(first);
    long[] b = sim.arrivalSpanNanos(last);
    if (a[0] == 0 || b[0] == 0 || a[1] <= a[0]) {
      return 0;
    }
    return Math.max(0, Math.min(1, (double) (a[1] - b[0]) / (a[1] - a[0])));
  }

  private static void print(ObjectNode r, PrintStream out) {
    ObjectNode s = (ObjectNode) r.get("settings");
    out.println();
    out.printf(Locale.ROOT, "moaa bench %s (SIMULATED endpoint): %d prompts, latency %s %d ms (mean %.0f ms), cap %s,"
            + " config allows %d per model, fault rate %.2f%s%n",
        r.get("workload").asText(), s.get("prompts").asInt(), s.get("latency").asText(), s.get("latency_ms").asInt(),
        s.get("mean_latency_ms").asDouble(), s.get("cap").asInt() == 0 ? "none" : s.get("cap").asText(),
        s.get("allowed").asInt(), s.get("fault_rate").asDouble(),
        s.get("beam_args").isEmpty() ? "" : ", " + s.get("beam_args"));
    if (r.has("batches")) {
      out.printf(Locale.ROOT, "  proposers in batch execution: %d batch(es) of %d request(s) in all, each answered %d ms"
          + " after it was created; estimated cost $%.4f%n", r.path("batches").path("submitted").asInt(),
          r.path("batches").path("requests").asInt(), r.path("batches").path("delay_ms").asInt(),
          r.path("estimated_cost_usd").asDouble());
    } else if (r.has("estimated_cost_usd")) {
      out.printf(Locale.ROOT, "  estimated cost $%.4f (price $1 per million tokens in and out)%n",
          r.path("estimated_cost_usd").asDouble());
    }
    if (r.has("bound_s")) {
      out.printf(Locale.ROOT, "  wall %.1f s | bound %.1f s | ratio %.2f | barrier bound %.1f s (ratio %.2f)"
              + " | bound from drawn latencies %.1f s%n",
          r.get("wall_s").asDouble(), r.get("bound_s").asDouble(), r.get("ratio").asDouble(),
          r.get("barrier_bound_s").asDouble(), r.get("barrier_ratio").asDouble(), r.get("busy_bound_s").asDouble());
      out.println("  bound: " + r.get("bound_formula").asText() + ", C = " + r.get("bound_cap").asInt());
    } else {
      out.printf(Locale.ROOT, "  wall %.1f s (no latency: no bound)%n", r.get("wall_s").asDouble());
    }
    out.printf(Locale.ROOT, "  %-16s %8s %8s %6s %6s %5s %8s %14s%n", "model", "expected", "ok", "429", "5xx",
        "peak", "busy s", "calls from-to s");
    r.get("models").fields().forEachRemaining(e -> {
      ObjectNode m = (ObjectNode) e.getValue();
      out.printf(Locale.ROOT, "  %-16s %8d %8d %6d %6d %5d %8.1f %6.1f-%-7.1f%n", e.getKey(),
          m.get("expected_calls").asLong(), m.get("ok").asLong(), m.get("rate_limited_429").asLong(),
          m.get("server_errors_5xx").asLong(), m.get("peak_in_flight").asInt(), m.get("busy_s").asDouble(),
          m.path("first_call_s").asDouble(), m.path("last_call_s").asDouble());
    });
    out.printf(Locale.ROOT, "  calls %d ok of %d requests, 429s %d | stage overlap %.0f%% | first call after %.1f s,"
            + " last call %.1f s before the end%n",
        r.get("calls_ok").asLong(), r.get("requests").asLong(), r.get("rate_limited_429").asLong(),
        100 * r.get("stage_overlap").asDouble(), r.path("first_call_after_s").asDouble(),
        r.path("last_call_before_end_s").asDouble());
    ObjectNode p = (ObjectNode) r.get("process");
    out.printf(Locale.ROOT, "  process (pipeline + simulator): CPU %.1f s (%.2f cores, %.2f ms per call), GC %.1f s in %d"
            + " collections, peak heap %d MB of %d MB, peak non-heap %d MB, peak RSS %d MB (since %s)%n",
        p.get("cpu_s").asDouble(), p.get("cores_busy").asDouble(), p.get("cpu_ms_per_call").asDouble(),
        p.get("gc_s").asDouble(), p.get("gc_count").asLong(), p.get("peak_heap_mb").asLong(),
        p.get("max_heap_mb").asLong(), p.get("peak_non_heap_mb").asLong(), p.get("peak_rss_mb").asLong(),
        p.get("peak_rss_since").asText());
    out.printf(Locale.ROOT, "  heap after GC: peak %d MB; highest in each quarter of the run %s MB (-1: no collection)%n",
        p.get("peak_heap_after_gc_mb").asLong(), p.get("heap_after_gc_by_quarter_mb").toString());
    out.printf(Locale.ROOT, "  pipeline: %.0f calls/s over the wall time, %.0f calls/s from its first call to its last,"
            + " %.0f calls/s steady (middle 80%% of its calls)%n",
        r.get("pipeline_calls_per_s").asDouble(), r.get("pipeline_calls_per_s_sustained").asDouble(),
        r.get("pipeline_calls_per_s_steady").asDouble());
    if (r.has("load_generator")) {
      ObjectNode g = (ObjectNode) r.get("load_generator");
      out.printf(Locale.ROOT, "  load generator: %d workers for %.0f s: %.0f requests/s (%d ok, %d failed, %.2f ms CPU"
              + " per request) | pipeline / generator = %.2f steady (%.2f first call to last)%n",
          g.get("workers").asInt(), g.get("seconds").asDouble(), g.get("requests_per_s").asDouble(),
          g.get("ok").asLong(), g.get("failed").asLong(), g.get("cpu_ms_per_request").asDouble(),
          r.get("pipeline_over_generator").asDouble(), r.get("pipeline_first_to_last_over_generator").asDouble());
    }
    if (r.get("exit_code").asInt() != 0) {
      out.println("  the pipeline exited with code " + r.get("exit_code").asInt());
    }
  }

  private static double round(double v) {
    return Math.round(v * 1000) / 1000.0;
  }

  private static long mb(long bytes) {
    return bytes < 0 ? -1 : Math.round(bytes / (1024.0 * 1024.0));
  }
}

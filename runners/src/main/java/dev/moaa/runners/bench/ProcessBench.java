package dev.moaa.runners.bench;

import dev.moaa.runners.launch.JobJar;
import dev.moaa.runners.sim.RecordedRequest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The pipeline as a user starts it and times it: a child process ({@code moaa sft ...} through
 * the launcher, or {@code java -jar}) against the simulated endpoint in the benchmark's own JVM,
 * from the moment the process is started to the moment it has exited. Everything is read from one
 * clock (this JVM's {@link System#nanoTime()}): when the process started, when each request reached
 * the endpoint and when it was answered, when the process exited. From those: the first call after
 * the start, the exit after the last answer, and per model how long after its first call its calls
 * in flight first reached their limit (the ramp).
 */
final class ProcessBench {
  private ProcessBench() {}

  /** One timed process. */
  record Run(int exitCode, double wallS, double firstCallS, double exitAfterLastAnswerS,
      Map<String, Double> rampS) {
    /** The longest ramp; NaN when some pool never reached its limit. */
    double slowestRampS() {
      if (rampS.values().stream().anyMatch(v -> Double.isNaN(v))) {
        return Double.NaN;
      }
      return rampS.values().stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
    }
  }

  /**
   * The command that starts the pipeline: {@code launcher} as given ({@code ./moaa}), or for
   * {@code java} this JVM's java on the running jar with the launcher's JIT flag.
   */
  static List<String> command(String launcher) {
    if (!launcher.equals("java")) {
      Path p = Paths.get(launcher).toAbsolutePath();
      if (!Files.isExecutable(p)) {
        throw new IllegalArgumentException("--process: " + p + " is not an executable launcher (or say --process=java)");
      }
      return List.of(p.toString());
    }
    Path jar = JobJar.running().orElseThrow(() -> new IllegalArgumentException(
        "--process=java runs the bundled jar: start the benchmark from it (java -jar runners/target/moaa.jar)"));
    return List.of(Paths.get(System.getProperty("java.home"), "bin", "java").toString(), "-XX:TieredStopAtLevel=1",
        "-jar", jar.toString());
  }

  /**
   * Times one process: {@code timing} is what {@link #start} returned, {@code requests} what the
   * endpoint recorded while it ran (it was reset before), {@code limits} each model's limit.
   */
  static Run measure(long[] timing, List<RecordedRequest> requests, Map<String, Integer> limits) {
    long startedAt = timing[0];
    long exitedAt = timing[1];
    long first = Long.MAX_VALUE;
    long lastAnswer = Long.MIN_VALUE;
    Map<String, List<long[]>> events = new TreeMap<>();
    Map<String, Long> firstOf = new TreeMap<>();
    for (RecordedRequest r : requests) {
      if (r.model() == null) {
        continue;
      }
      first = Math.min(first, r.arrivedAtNanos());
      lastAnswer = Math.max(lastAnswer, r.answeredAtNanos());
      firstOf.merge(r.model(), r.arrivedAtNanos(), Math::min);
      List<long[]> e = events.computeIfAbsent(r.model(), m -> new ArrayList<>());
      e.add(new long[] {r.arrivedAtNanos(), 1});
      e.add(new long[] {r.answeredAtNanos(), -1});
    }
    Map<String, Double> ramp = new LinkedHashMap<>();
    events.forEach((model, e) -> {
      e.sort(Comparator.<long[]>comparingLong(x -> x[0]).thenComparingLong(x -> x[1])); // ends before starts
      int limit = limits.getOrDefault(model, Integer.MAX_VALUE);
      int inFlight = 0;
      double reached = Double.NaN;
      for (long[] x : e) {
        inFlight += (int) x[1];
        if (inFlight >= limit) {
          reached = (x[0] - firstOf.get(model)) / 1e9;
          break;
        }
      }
      ramp.put(model, reached);
    });
    return new Run((int) timing[2], (exitedAt - startedAt) / 1e9,
        first == Long.MAX_VALUE ? Double.NaN : (first - startedAt) / 1e9,
        lastAnswer == Long.MIN_VALUE ? Double.NaN : (exitedAt - lastAnswer) / 1e9, ramp);
  }

  /**
   * Starts the process, its output into {@code log} and its JVM's collections into {@code gcLog}
   * (Java's unified logging, {@code -Xlog:gc}); returns {start nanos, exit nanos, exit code}.
   */
  static long[] start(List<String> command, List<String> args, Path log, Path gcLog, boolean resident)
      throws IOException, InterruptedException {
    List<String> cmd = new ArrayList<>(command);
    cmd.addAll(args);
    Files.createDirectories(log.getParent());
    Files.deleteIfExists(gcLog);
    String gcFlag = "-Xlog:gc:file=" + gcLog.toAbsolutePath();
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
    if (isJava(command)) {
      cmd.add(1, gcFlag); // java -XX:... -jar moaa.jar
      pb.command(cmd);
    } else if (resident) {
      // the launcher's resident JVM serves the runs: a flag of one run's own would start a JVM per
      // run (the launcher keeps one per set of Java options), and its collections are not one run's
      pb.environment().remove("MOAA_RESIDENT");
    } else {
      // the launcher passes MOAA_JAVA_OPTS to its JVM, after its own flags
      String opts = System.getenv().getOrDefault("MOAA_JAVA_OPTS", "");
      pb.environment().put("MOAA_JAVA_OPTS", (opts + " " + gcFlag).trim());
      pb.environment().put("MOAA_RESIDENT", "off");
    }
    long started = System.nanoTime();
    Process p = pb.start();
    int code = p.waitFor();
    long exited = System.nanoTime();
    return new long[] {started, exited, code};
  }

  /** Whether {@code command} is a launcher whose runs go to its resident JVM ({@code resident} on). */
  static boolean residentLauncher(List<String> command, boolean resident) {
    return resident && !isJava(command);
  }

  /** Whether {@code command} ({@link #command}) is {@code java -XX:... -jar moaa.jar}, not a launcher. */
  private static boolean isJava(List<String> command) {
    return command.size() > 1 && command.get(1).startsWith("-XX:");
  }

  /** The heap in use after each collection of a child JVM, from its {@code -Xlog:gc} file. */
  record HeapAfterGc(long peakBytes, List<Long> byQuarterBytes, int collections) {
    static final Pattern LINE = Pattern.compile("^\\[([0-9.]+)s\\].*?(\\d+)([KMG])->(\\d+)([KMG])\\((\\d+)([KMG])\\)");

    /**
     * Reads {@code gcLog} of a process that ran {@code wallS} seconds: the peak of the heap after a
     * collection and its highest value in each quarter of the run (-1: no collection in it).
     */
    static HeapAfterGc read(Path gcLog, double wallS) throws IOException {
      long[] quarters = {-1, -1, -1, -1};
      long peak = -1;
      int n = 0;
      if (!Files.exists(gcLog)) {
        return new HeapAfterGc(-1, List.of(-1L, -1L, -1L, -1L), 0);
      }
      for (String line : Files.readAllLines(gcLog)) {
        Matcher m = LINE.matcher(line);
        if (!m.find()) {
          continue;
        }
        double at = Double.parseDouble(m.group(1));
        long after = bytes(Long.parseLong(m.group(4)), m.group(5));
        int q = (int) Math.min(3, Math.max(0, Math.floor(at / wallS * 4)));
        quarters[q] = Math.max(quarters[q], after);
        peak = Math.max(peak, after);
        n++;
      }
      return new HeapAfterGc(peak, List.of(quarters[0], quarters[1], quarters[2], quarters[3]), n);
    }

    private static long bytes(long v, String unit) {
      return switch (unit) {
        case "K" -> v << 10;
        case "M" -> v << 20;
        default -> v << 30;
      };
    }

    String describe() {
      return String.format(Locale.ROOT, "heap after GC (child JVM, %d collections): peak %d MB; highest in each"
          + " quarter of the run %s MB", collections, mb(peakBytes),
          byQuarterBytes.stream().map(b -> String.valueOf(mb(b))).toList());
    }

    static long mb(long bytes) {
      return bytes < 0 ? -1 : Math.round(bytes / 1048576.0);
    }
  }

  /** The median of {@code values} (the mean of the middle two for an even count); NaN when empty. */
  static double median(List<Double> values) {
    List<Double> v = values.stream().filter(d -> !Double.isNaN(d)).sorted().toList();
    if (v.isEmpty()) {
      return Double.NaN;
    }
    int n = v.size();
    return n % 2 == 1 ? v.get(n / 2) : (v.get(n / 2 - 1) + v.get(n / 2)) / 2;
  }

  static String describe(Run r) {
    return String.format(Locale.ROOT, "exit %d, wall %.2f s, first call %.2f s after the start, exit %.2f s after the"
        + " last answer, every pool at its limit %.2f s after its first call %s", r.exitCode(), r.wallS(), r.firstCallS(),
        r.exitAfterLastAnswerS(), r.slowestRampS(), r.rampS());
  }
}

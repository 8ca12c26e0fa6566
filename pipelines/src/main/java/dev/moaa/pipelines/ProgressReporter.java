package dev.moaa.pipelines;

import dev.moaa.transforms.client.BatchChatClient;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.moa.CallMetrics;
import dev.moaa.transforms.moa.LiveCounters;
import dev.moaa.transforms.moa.SharedModelClients;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.function.ToIntFunction;

/**
 * Prints a progress line every few seconds while a run goes: rows settled (written, dead-lettered
 * or dropped) out of rows read, calls done and in flight per model, retries (and the 429s among
 * them), failures, cache hits, tokens, the estimated cost so far, the rate and an ETA. Figures are
 * this JVM's sums of the run's counters (namespace {@value CallMetrics#NAMESPACE}, {@link
 * LiveCounters}), counted as they happen, and calls in flight are those of this JVM; or, for a job
 * on a Flink cluster, the job's counters as the cluster's metrics show them ({@link
 * ClusterCounters}). After {@link #close()} returns no further line is printed.
 */
public final class ProgressReporter implements AutoCloseable {
  private final Supplier<Snapshot> figures;
  private final Map<String, ModelEndpoint> models;
  private final ToIntFunction<ModelEndpoint> inFlight;
  private final PrintStream out;
  private final int callsPerRow;
  private final long startedNanos;
  /** When calls were first seen, in seconds since the start, and how many; NaN before. */
  private double callsSeenAt = Double.NaN;
  private long callsSeen;
  private final Object lock = new Object();
  private final ScheduledExecutorService timer;
  private boolean closed;

  private ProgressReporter(Supplier<Snapshot> figures, Map<String, ModelEndpoint> models,
      ToIntFunction<ModelEndpoint> inFlight, PrintStream out, int seconds, int callsPerRow, double elapsedSeconds) {
    this.startedNanos = System.nanoTime() - (long) (elapsedSeconds * 1e9);
    this.figures = figures;
    this.callsPerRow = callsPerRow;
    this.models = models;
    this.inFlight = inFlight;
    this.out = out;
    this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "moaa-progress");
      t.setDaemon(true);
      return t;
    });
    timer.scheduleAtFixedRate(this::tick, seconds, seconds, TimeUnit.SECONDS);
  }

  /**
   * Starts printing every {@code seconds} seconds for a runner that executes in this JVM (the
   * DirectRunner, Flink's embedded mini-cluster): the figures are this JVM's {@link LiveCounters}
   * since now, counted as calls end and rows pass; calls in flight come from this JVM's clients.
   */
  static ProgressReporter startInThisJvm(Map<String, ModelEndpoint> models, PrintStream out, int seconds,
      int callsPerRow) {
    Map<String, Long> before = LiveCounters.snapshot();
    return new ProgressReporter(() -> Snapshot.of(LiveCounters.since(before, LiveCounters.snapshot())), models,
        SharedModelClients::inFlight, out, seconds, callsPerRow, 0);
  }

  /**
   * Starts printing every {@code seconds} seconds for a job on a Flink cluster: the figures are
   * the job's counters as the cluster's metrics show them ({@link ClusterCounters}), a second or
   * so behind the calls, and the line has no calls in flight. {@code elapsedSeconds}: how long the
   * run has been going already (a {@code moaa finish} started after the job).
   */
  public static ProgressReporter startForCluster(ClusterCounters counters, Map<String, ModelEndpoint> models,
      PrintStream out, int seconds, int callsPerRow, double elapsedSeconds) {
    return new ProgressReporter(() -> Snapshot.of(counters.read()), models, null, out, seconds, callsPerRow,
        elapsedSeconds);
  }

  private void tick() {
    String line;
    try {
      line = line(figures.get(), (System.nanoTime() - startedNanos) / 1e9);
    } catch (RuntimeException e) {
      line = "progress: metrics not readable yet (" + e.getClass().getSimpleName() + ")";
    }
    synchronized (lock) {
      if (!closed) {
        out.println(line);
      }
    }
  }

  /** The figures of one moment: the row counters and, per model, its counters. */
  record Snapshot(Map<String, Long> rows, Map<String, Map<String, Long>> perModel) {
    long row(String name) {
      return rows.getOrDefault(name, 0L);
    }

    long model(String model, String kind) {
      return perModel.getOrDefault(model, Map.of()).getOrDefault(kind, 0L);
    }

    long sum(String kind) {
      return perModel.values().stream().mapToLong(m -> m.getOrDefault(kind, 0L)).sum();
    }

    /** The figures of counters named as the product names them ({@code rows_read}, {@code calls/MODEL}, ...). */
    static Snapshot of(Map<String, Long> counters) {
      Map<String, Long> rows = new TreeMap<>();
      Map<String, Map<String, Long>> perModel = new TreeMap<>();
      for (Map.Entry<String, Long> c : counters.entrySet()) {
        String name = c.getKey();
        long v = c.getValue();
        int slash = name.indexOf('/');
        if (slash < 0) {
          rows.merge(name, v, Long::sum);
        } else {
          perModel.computeIfAbsent(name.substring(slash + 1), m -> new TreeMap<>())
              .merge(name.substring(0, slash), v, Long::sum);
        }
      }
      return new Snapshot(rows, perModel);
    }
  }

  /** The progress line for these figures, {@code elapsed} seconds into the run. */
  String line(Snapshot s, double elapsed) {
    long read = s.row(Tally.ROWS_READ);
    long done = s.row(Tally.ROWS_WRITTEN) + s.row(Tally.ROWS_DEAD_LETTERED) + s.row(Tally.ROWS_DROPPED);
    double perMinute = elapsed > 0 ? done * 60.0 / elapsed : 0;
    long allCalls = s.sum("calls");
    if (allCalls > 0 && Double.isNaN(callsSeenAt)) {
      callsSeenAt = elapsed;
      callsSeen = allCalls;
    }
    String eta;
    if (done > 0 && read > 0) {
      eta = clock((read - done) * 60.0 / perMinute);
    } else if (callsPerRow > 0 && read > 0 && allCalls > callsSeen && elapsed > callsSeenAt) {
      // no row written yet (a batch run writes them all at the end): the calls still to make, at
      // the rate of the calls since they began
      double rate = (allCalls - callsSeen) / (elapsed - callsSeenAt);
      eta = clock(Math.max(0, read * (double) callsPerRow - allCalls) / rate);
    } else {
      eta = "?";
    }
    double cost = 0;
    int flying = 0;
    Map<String, String> perModel = new LinkedHashMap<>();
    for (ModelEndpoint m : models.values()) {
      long calls = s.model(m.name(), "calls");
      int now = inFlight == null ? 0 : inFlight.applyAsInt(m);
      cost += m.costUsd(s.model(m.name(), "prompt_tokens"), s.model(m.name(), "completion_tokens"));
      flying += now;
      if (calls > 0 || now > 0) {
        perModel.put(m.name(), inFlight == null ? String.valueOf(calls) : calls + "+" + now);
      }
    }
    StringBuilder b = new StringBuilder();
    b.append(String.format(Locale.ROOT,
        "progress %s  conversations %d/%d done (%s)  %.1f/min  ETA %s  calls %d%s  retries %d"
            + " (429: %d)  failures %d  cache hits %d  tokens %d  cost $%.4f",
        clock(elapsed), done, read, read == 0 ? "reading" : percent(done, read), perMinute, eta,
        s.sum("calls"), inFlight == null ? "" : " (in flight " + flying + ")", s.sum("retries"), s.sum("rate_limited"),
        s.sum("failures"), s.sum("cache_hits"), s.sum("prompt_tokens") + s.sum("completion_tokens"), cost));
    if (!perModel.isEmpty()) {
      b.append(inFlight == null ? "  | calls:" : "  | done+in flight:");
      perModel.forEach((m, v) -> b.append(' ').append(m).append(' ').append(v));
    }
    if (models.values().stream().anyMatch(m -> m.batch() != null)) {
      BatchChatClient.Stats batches = BatchChatClient.stats();
      b.append(String.format(Locale.ROOT, "  | batches: %d submitted, %d in progress, %d done",
          batches.submitted() + batches.resumed(), batches.inProgress(), batches.done()));
    }
    return b.toString();
  }

  private static String percent(long done, long total) {
    return String.format(Locale.ROOT, "%.0f%%", 100.0 * done / total);
  }

  private static String clock(double seconds) {
    long s = Math.max(0, Math.round(seconds));
    return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
        : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
  }

  /** Stops the timer; no line is printed once this returns. */
  @Override
  public void close() {
    synchronized (lock) {
      closed = true;
    }
    timer.shutdownNow();
  }
}

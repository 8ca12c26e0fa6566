package dev.moaa.transforms.budget;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ledger of every HTTP request a run sends to a model, kept beside the run's output and owned
 * by the output folder (not by one process or one attempt of a job): each request is written down
 * before it goes out (an <em>intent</em>: model, kind, the run's launch, its worst-case cost) and
 * again when it ends (the <em>outcome</em>: the billed usage and cost, or why it ended). A request
 * whose intent has no outcome was in flight when its process died: it was possibly billed, and is
 * counted as such ({@link Totals#inDoubt}).
 *
 * <p>Each JVM appends to a file of its own in the ledger folder ({@code HOST-PID-RANDOM.jsonl}),
 * one JSON object a line, written through to the operating system at every line, so a process
 * killed outright (a lost TaskManager) loses nothing it had written. Reading sums every file, so
 * a restarted job, a resumed run and {@code moaa finish} all see every request any attempt made.
 *
 * <p>What it costs: two short appends per request (no disk sync; a crash of the machine itself,
 * not of the process, may lose the last lines the system had not written back).
 */
public final class CallLedger {
  private static final Logger LOG = LoggerFactory.getLogger(CallLedger.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String KIND = "call-ledger";
  /** A request that went out to the endpoint as part of a call, a retry, a repair or an {@code n} fill-in. */
  public static final String CALL = "call";
  /** A preflight probe. */
  public static final String PROBE = "probe";
  /** Outcomes without an answer: the request may or may not have been received and billed. */
  private static final java.util.Set<String> IN_DOUBT = java.util.Set.of("timeout", "connection", "failed");

  private final Path dir;
  private final Path file;
  private final AtomicLong sequence = new AtomicLong();
  private OutputStream out;
  private boolean failedSaid;

  private CallLedger(Path dir, Path file) {
    this.dir = dir;
    this.file = file;
  }

  /** The ledger of {@code spec}'s folder in this JVM, or null when the spec keeps none; pair with {@link #release}. */
  public static CallLedger acquire(BudgetSpec spec) {
    if (spec == null || spec.ledgerDir() == null) {
      return null;
    }
    String d = spec.ledgerDir();
    return dev.moaa.transforms.SharedResources.acquire(KIND, d, () -> new CallLedger(Paths.get(d),
        Paths.get(d).resolve(processName() + "-" + UUID.randomUUID().toString().substring(0, 8) + ".jsonl")),
        CallLedger::close);
  }

  /** Gives back a ledger from {@link #acquire}; the last release closes this JVM's file. */
  public static void release(CallLedger ledger) {
    if (ledger != null) {
      dev.moaa.transforms.SharedResources.release(KIND, ledger.dir.toString(), ledger);
    }
  }

  private static String processName() {
    String host;
    try {
      host = InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      host = "host";
    }
    return host.replaceAll("[^A-Za-z0-9.-]", "_") + "-" + ManagementFactory.getRuntimeMXBean().getPid();
  }

  /**
   * Writes down a request about to be sent; returns its id for {@link #outcome}. {@code hash}
   * (may be null) identifies the request's body; {@code worstUsd} is the most it can cost (its
   * prompt and its largest completion at the model's price).
   */
  public long intent(String launch, String model, String kind, String hash, double worstUsd) {
    long id = sequence.incrementAndGet();
    ObjectNode n = JSON.createObjectNode();
    n.put("t", "intent");
    n.put("id", id);
    n.put("launch", launch);
    n.put("model", model);
    n.put("kind", kind);
    if (hash != null) {
      n.put("hash", hash);
    }
    n.put("worst_uusd", micro(worstUsd));
    n.put("at", System.currentTimeMillis());
    append(n);
    return id;
  }

  /**
   * Writes down how request {@code id} ended: {@code status} is {@code ok}, an error kind, or
   * {@code timeout}, {@code connection} or {@code failed} (no answer: possibly billed, with unknown
   * usage); the usage and cost billed.
   */
  public void outcome(long id, String launch, String model, String status, long promptTokens, long completionTokens,
      long reasoningTokens, boolean estimated, double usd) {
    ObjectNode n = JSON.createObjectNode();
    n.put("t", "outcome");
    n.put("id", id);
    n.put("launch", launch);
    n.put("model", model);
    n.put("status", status);
    n.put("prompt_tokens", promptTokens);
    n.put("completion_tokens", completionTokens);
    n.put("reasoning_tokens", reasoningTokens);
    n.put("estimated", estimated);
    n.put("uusd", micro(usd));
    append(n);
  }

  /**
   * Writes down that the budget refused a call, at these limits: a later launch of the folder whose
   * limits are not higher starts with its budget closed, and sends nothing.
   */
  public void budgetClosed(String launch, double maxUsd, long maxTokens) {
    ObjectNode n = JSON.createObjectNode();
    n.put("t", "budget_closed");
    n.put("launch", launch);
    n.put("max_uusd", micro(maxUsd));
    n.put("max_tokens", maxTokens);
    n.put("at", System.currentTimeMillis());
    append(n);
  }

  /**
   * Keeps an answer that was paid for but could not be stored in the response cache (its store was
   * down): written to {@code unstored-*.jsonl} beside the ledger, it goes into the cache at the
   * next launch of the folder ({@link #restoreUnstored}), so a rerun does not pay for it again.
   */
  public void unstored(String launch, String model, String key, byte[] answer) {
    ObjectNode n = JSON.createObjectNode();
    n.put("t", "unstored");
    n.put("launch", launch);
    n.put("model", model);
    n.put("key", key);
    n.put("answer", java.util.Base64.getEncoder().encodeToString(answer));
    synchronized (this) {
      try {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("unstored-" + file.getFileName()), JSON.writeValueAsString(n) + "\n",
            StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
      } catch (IOException e) {
        throw new UncheckedIOException("cannot keep an unstored answer beside the ledger " + dir + ": "
            + e.getMessage(), e);
      }
    }
  }

  /** Where an answer kept by {@link #unstored} goes: the response cache. */
  public interface AnswerStore {
    void put(String key, String model, byte[] answer) throws Exception;
  }

  /**
   * Puts the answers kept by {@link #unstored} in {@code dir} into {@code store} and removes the
   * files that were put whole; returns how many answers went in.
   */
  public static int restoreUnstored(Path dir, AnswerStore store) throws Exception {
    if (dir == null || !Files.isDirectory(dir)) {
      return 0;
    }
    int n = 0;
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "unstored-*.jsonl")) {
      for (Path f : files) {
        int[] put = {0};
        forEachLine(f, a -> {
          if (a.has("key")) {
            store.put(a.path("key").asText(), a.path("model").asText(),
                java.util.Base64.getDecoder().decode(a.path("answer").asText()));
            put[0]++;
          }
        });
        n += put[0];
        Files.move(f, f.resolveSibling("restored-" + f.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      }
    }
    return n;
  }

  private static long micro(double usd) {
    return Math.round(usd * 1e6);
  }

  private synchronized void append(ObjectNode n) {
    try {
      if (out == null) {
        Files.createDirectories(dir);
        out = Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
      }
      // one write of the whole line: a line is never interleaved with another process's
      out.write((JSON.writeValueAsString(n) + "\n").getBytes(StandardCharsets.UTF_8));
      out.flush();
    } catch (IOException e) {
      if (!failedSaid) {
        failedSaid = true;
        LOG.error("call ledger {}: cannot write ({}): the run's paid requests are not all recorded", file, e.getMessage());
      }
      throw new UncheckedIOException("the call ledger " + file + " cannot be written: " + e.getMessage(), e);
    }
  }

  private synchronized void close() {
    if (out != null) {
      try {
        out.close();
      } catch (IOException e) {
        LOG.warn("call ledger {}: {}", file, e.getMessage());
      }
      out = null;
    }
  }

  /** Requests, tokens and cost of one model (or of a whole run). */
  public record Totals(long requests, long answered, long inDoubt, long promptTokens, long completionTokens,
      long reasoningTokens, long estimated, long costMicroUsd, long inDoubtWorstMicroUsd) {
    static final Totals ZERO = new Totals(0, 0, 0, 0, 0, 0, 0, 0, 0);

    public double costUsd() {
      return costMicroUsd / 1e6;
    }

    public double inDoubtWorstUsd() {
      return inDoubtWorstMicroUsd / 1e6;
    }

    Totals plus(Totals o) {
      return new Totals(requests + o.requests, answered + o.answered, inDoubt + o.inDoubt,
          promptTokens + o.promptTokens, completionTokens + o.completionTokens, reasoningTokens + o.reasoningTokens,
          estimated + o.estimated, costMicroUsd + o.costMicroUsd, inDoubtWorstMicroUsd + o.inDoubtWorstMicroUsd);
    }
  }

  /** What a ledger folder holds: per launch, per kind ({@link #CALL}, {@link #PROBE}), per model. */
  public record Summary(Map<String, Map<String, Map<String, Totals>>> byLaunch, long[] closedAtMax,
      Map<String, Long> unstoredByLaunch) {
    /** Answers of {@code launch} kept by {@link #unstored}: paid, and not stored in the cache then. */
    public long unstored(String launch) {
      return unstoredByLaunch.getOrDefault(launch, 0L);
    }

    /**
     * Whether a launch's budget closed at limits at least these ({@code maxUsd} dollars, {@code
     * maxTokens} tokens; 0 = no such limit): the budget was not raised since, and nothing fits.
     */
    /**
     * What a budget stop consumed: the highest limits (micro-dollars, tokens; 0 = none) at which an
     * earlier launch's budget closed. A stopped budget counts as spent up to them, so a raise of
     * $X lets at most $X more go out.
     */
    public long[] closedAt() {
      return new long[] {Math.max(0, closedAtMax[0]), Math.max(0, closedAtMax[1])};
    }

    public boolean closedAtOrAbove(double maxUsd, long maxTokens) {
      if (closedAtMax[0] < 0) {
        return false;
      }
      boolean usdNotRaised = maxUsd <= 0 || closedAtMax[0] > 0 && Math.round(maxUsd * 1e6) <= closedAtMax[0];
      boolean tokensNotRaised = maxTokens <= 0 || closedAtMax[1] > 0 && maxTokens <= closedAtMax[1];
      return (maxUsd > 0 || maxTokens > 0) && usdNotRaised && tokensNotRaised;
    }

    /** The sums over every launch, kind and model of the folder. */
    public Totals all() {
      return select(null, null);
    }

    /** Sums of {@code launch} (null: every launch) and {@code kind} (null: every kind). */
    public Totals select(String launch, String kind) {
      return byModel(launch, kind).values().stream().reduce(Totals.ZERO, Totals::plus);
    }

    /** Per model, of {@code launch} (null: every launch) and {@code kind} (null: every kind). */
    public Map<String, Totals> byModel(String launch, String kind) {
      Map<String, Totals> out = new TreeMap<>();
      byLaunch.forEach((l, kinds) -> {
        if (launch == null || launch.equals(l)) {
          kinds.forEach((k, models) -> {
            if (kind == null || kind.equals(k)) {
              models.forEach((m, t) -> out.merge(m, t, Totals::plus));
            }
          });
        }
      });
      return out;
    }

    /** The launches other than {@code launch}, summed: what the folder had spent before it. */
    public Totals before(String launch) {
      Totals t = Totals.ZERO;
      for (String l : byLaunch.keySet()) {
        if (!l.equals(launch)) {
          t = t.plus(select(l, null));
        }
      }
      return t;
    }
  }

  /** Reads every file of the ledger folder {@code dir}; an empty summary when there is none. */
  public static Summary read(Path dir) throws IOException {
    Map<String, Map<String, Map<String, Totals>>> byLaunch = new TreeMap<>();
    long[] closed = {-1, -1};
    Map<String, Long> unstored = new TreeMap<>();
    if (dir == null || !Files.isDirectory(dir)) {
      return new Summary(byLaunch, closed, unstored);
    }
    try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, "*.jsonl")) {
      for (Path f : files) {
        if (f.getFileName().toString().contains("unstored-")) {
          // kept answers (still to be stored, or stored by a later launch: restored-unstored-*)
          forEachLine(f, a -> unstored.merge(a.path("launch").asText(), 1L, Long::sum));
        } else {
          readFile(f, byLaunch, closed);
        }
      }
    }
    return new Summary(byLaunch, closed, unstored);
  }

  /** What to do with one line of a ledger file. */
  @FunctionalInterface
  private interface LineAction<E extends Exception> {
    void accept(JsonNode line) throws E;
  }

  /**
   * Hands each JSON object of a ledger file to {@code action}, one a line, as it is read; a torn
   * line (the last one of a process killed while it wrote) is skipped.
   */
  private static <E extends Exception> void forEachLine(Path f, LineAction<E> action) throws IOException, E {
    try (BufferedReader r = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
      String line;
      while ((line = r.readLine()) != null) {
        JsonNode n;
        try {
          n = JSON.readTree(line);
        } catch (IOException torn) {
          continue;
        }
        if (n != null && n.isObject()) {
          action.accept(n);
        }
      }
    }
  }

  private record Intent(String launch, String model, String kind, long worst) {}

  private static void readFile(Path f, Map<String, Map<String, Map<String, Totals>>> byLaunch, long[] closed)
      throws IOException {
    Map<Long, Intent> open = new LinkedHashMap<>();
    forEachLine(f, n -> {
      long id = n.path("id").asLong();
      switch (n.path("t").asText()) {
        case "budget_closed" -> {
          closed[0] = Math.max(closed[0], n.path("max_uusd").asLong());
          closed[1] = Math.max(closed[1], n.path("max_tokens").asLong());
        }
        case "intent" -> open.put(id, new Intent(n.path("launch").asText(), n.path("model").asText(),
            n.path("kind").asText(CALL), n.path("worst_uusd").asLong()));
        case "outcome" -> {
          Intent i = open.remove(id);
          String kind = i == null ? CALL : i.kind();
          // no answer came: a timeout, or a connection that failed (before or after the request
          // reached the server): possibly billed, its usage unknown
          boolean billed = !IN_DOUBT.contains(n.path("status").asText());
          Totals t = new Totals(1, billed ? 1 : 0, billed ? 0 : 1, n.path("prompt_tokens").asLong(),
              n.path("completion_tokens").asLong(), n.path("reasoning_tokens").asLong(),
              n.path("estimated").asBoolean() ? 1 : 0, n.path("uusd").asLong(), billed || i == null ? 0 : i.worst());
          add(byLaunch, n.path("launch").asText(), kind, n.path("model").asText(), t);
        }
        default -> { }
      }
    });
    for (Intent i : open.values()) {
      add(byLaunch, i.launch(), i.kind(), i.model(), new Totals(1, 0, 1, 0, 0, 0, 0, 0, i.worst()));
    }
  }

  private static void add(Map<String, Map<String, Map<String, Totals>>> byLaunch, String launch, String kind,
      String model, Totals t) {
    byLaunch.computeIfAbsent(launch, k -> new TreeMap<>()).computeIfAbsent(kind, k -> new TreeMap<>())
        .merge(model, t, Totals::plus);
  }
}

package dev.moaa.pipelines;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.moaa.transforms.client.ModelEndpoint;
import dev.moaa.transforms.moa.CallMetrics;
import java.io.IOException;
import dev.moaa.transforms.io.StoragePath;
import java.time.Instant;
import java.util.Map;
import java.util.TreeMap;
import org.apache.beam.sdk.PipelineResult;
import org.apache.beam.sdk.metrics.MetricNameFilter;
import org.apache.beam.sdk.metrics.MetricQueryResults;
import org.apache.beam.sdk.metrics.MetricResult;
import org.apache.beam.sdk.metrics.MetricsFilter;

/**
 * What a finished run did, written as {@code manifest.json}: counts that reconcile, calls (paid and
 * answered from the cache), tokens and estimated cost per model of the paid calls, whether the run
 * is complete (false when the budget left conversations for a later run), the config hash, the templates, the shards and the timings. Holds
 * no secret: the config keeps only names of key variables, and options hold no key.
 */
public final class RunManifest {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  /** The reconciliation of one run. */
  public record Counts(long read, long written, long deadLettered, long dropped, Map<String, Long> reasons) {
    public boolean reconciles() {
      return read == written + deadLettered + dropped;
    }

    public String line() {
      return "read " + read + " = written " + written + " + dead-lettered " + deadLettered
          + " + dropped " + dropped + (reconciles() ? "" : "   <-- DOES NOT RECONCILE");
    }
  }

  /**
   * Calls and tokens of one model, summed over every step that called it. {@code requests} are the
   * HTTP requests sent (retries included); tokens are billed over every answered request, those of
   * failed calls included; {@code usageEstimated} counts calls whose usage was partly estimated.
   */
  public record ModelUsage(long calls, long failures, long retries, long promptTokens, long completionTokens,
      long cacheHits, long rateLimited, long requests, long budgetRefused, long reasoningTokens,
      long usageEstimated) {
    public ModelUsage(long calls, long failures, long retries, long promptTokens, long completionTokens,
        long cacheHits, long rateLimited) {
      this(calls, failures, retries, promptTokens, completionTokens, cacheHits, rateLimited,
          calls - cacheHits, 0, 0, 0);
    }

    /** Requests sent to the endpoint: what was paid for. */
    public long paidCalls() {
      return requests;
    }
  }

  private RunManifest() {}

  /** Reads the counts the pipeline wrote to {@code _run/counts.tsv}. */
  public static Counts readCounts(StoragePath output) throws IOException {
    Map<String, Long> values = new TreeMap<>();
    Map<String, Long> reasons = new TreeMap<>();
    for (String line : output.resolve(Tally.COUNTS_FILE).readString().split("\n")) {
      int tab = line.lastIndexOf('\t');
      if (tab < 0) {
        continue;
      }
      String key = line.substring(0, tab);
      long n = Long.parseLong(line.substring(tab + 1).trim());
      if (key.startsWith("reason:")) {
        reasons.put(key.substring("reason:".length()), n);
      } else {
        values.put(key, n);
      }
    }
    long readOk = values.getOrDefault("read_ok", 0L);
    long readFailed = values.getOrDefault("read_failed", 0L);
    return new Counts(readOk + readFailed, values.getOrDefault("written", 0L),
        values.getOrDefault("dead_lettered", 0L), values.getOrDefault("dropped", 0L), reasons);
  }

  /**
   * Adds {@code coordination: {backend, key, location, lease_ttl_ms, share_budget, calls,
   * round_trips, round_trips_per_call}}: calls are the calls sent under shared limits, round trips
   * those of every worker to the store (heartbeats included), from the run's counters.
   */
  static void addCoordination(ObjectNode manifest, MoaaConfig config, PipelineResult result) {
    ObjectNode n = manifest.putObject("coordination");
    if (config.coordination() == null) {
      n.put("backend", "none");
      return;
    }
    n.put("backend", "redis");
    n.put("key", config.coordination().key());
    n.put("location", config.coordination().location());
    n.put("lease_ttl_ms", config.coordination().leaseTtlMs());
    n.put("share_budget", config.shareBudget());
    long calls = counter(result, dev.moaa.transforms.moa.CallMetrics.COORDINATION_CALLS);
    long trips = counter(result, dev.moaa.transforms.moa.CallMetrics.COORDINATION_ROUND_TRIPS);
    n.put("calls", calls);
    n.put("round_trips", trips);
    n.put("round_trips_per_call", calls == 0 ? 0.0 : Math.round(trips * 100.0 / calls) / 100.0);
  }

  /** A {@code moaa} counter summed over steps (committed where the runner has it); 0 when absent. */
  static long counter(PipelineResult result, String name) {
    long sum = 0;
    try {
      MetricQueryResults q = result.metrics().queryMetrics(MetricsFilter.builder()
          .addNameFilter(MetricNameFilter.named(CallMetrics.NAMESPACE, name)).build());
      for (MetricResult<Long> c : q.getCounters()) {
        try {
          sum += c.getCommitted();
        } catch (UnsupportedOperationException e) {
          sum += c.getAttempted();
        }
      }
    } catch (UnsupportedOperationException e) {
      return 0;
    }
    return sum;
  }

  /** Sums the {@code moaa} counters per model; committed values where the runner has them. */
  public static Map<String, ModelUsage> usage(PipelineResult result) {
    Map<String, long[]> sums = new TreeMap<>();
    MetricQueryResults q = result.metrics().queryMetrics(MetricsFilter.builder()
        .addNameFilter(MetricNameFilter.inNamespace(CallMetrics.NAMESPACE)).build());
    for (MetricResult<Long> c : q.getCounters()) {
      String name = c.getName().getName();
      int slash = name.indexOf('/');
      if (slash < 0) {
        continue;
      }
      String kind = name.substring(0, slash);
      String model = name.substring(slash + 1);
      long v;
      try {
        v = c.getCommitted();
      } catch (UnsupportedOperationException e) {
        v = c.getAttempted();
      }
      long[] s = sums.computeIfAbsent(model, m -> new long[11]);
      switch (kind) {
        case "calls" -> s[0] += v;
        case "failures" -> s[1] += v;
        case "retries" -> s[2] += v;
        case "prompt_tokens" -> s[3] += v;
        case "completion_tokens" -> s[4] += v;
        case "cache_hits" -> s[5] += v;
        case "rate_limited" -> s[6] += v;
        case "requests" -> s[7] += v;
        case "budget_refused" -> s[8] += v;
        case "reasoning_tokens" -> s[9] += v;
        case "usage_estimated" -> s[10] += v;
        default -> { }
      }
    }
    Map<String, ModelUsage> out = new TreeMap<>();
    sums.forEach((m, s) -> out.put(m, new ModelUsage(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9],
        s[10])));
    return out;
  }

  public static ObjectNode build(RunKind kind, MoaaConfig config, RunSpec spec,
      String runner, PipelineResult.State state, Counts counts, Map<String, ModelUsage> usage,
      Instant started, Instant finished, StoragePath output) throws IOException {
    ObjectNode root = JSON.createObjectNode();
    root.put("product", "moaa-beam");
    root.put("command", kind.command());
    root.put("state", String.valueOf(state));
    root.put("runner", runner);
    root.put("config_hash", config.hash());
    long budgetStopped = counts.reasons().getOrDefault(dev.moaa.transforms.moa.DeadLetters.BUDGET, 0L);
    root.put("complete", state == PipelineResult.State.DONE && counts.reconciles() && budgetStopped == 0);
    root.put("cache", config.cache().toString());
    ObjectNode b = root.putObject("budget");
    b.put("max_cost_usd", config.budget().maxCostUsd());
    b.put("max_tokens", config.budget().maxTokens());
    b.put("stopped_conversations", budgetStopped);
    root.putPOJO("inputs", spec.inputs());
    root.put("input_format", spec.format().wireName());
    root.put("output", output.toString());
    ObjectNode c = root.putObject("counts");
    c.put("read", counts.read());
    c.put("written", counts.written());
    c.put("dead_lettered", counts.deadLettered());
    c.put("dropped", counts.dropped());
    c.put("reconciled", counts.reconciles());
    ObjectNode reasons = c.putObject("dead_letter_reasons");
    counts.reasons().forEach(reasons::put);
    root.set("topology", kind.topology(config));
    ObjectNode models = root.putObject("models");
    double total = 0;
    long totalIn = 0;
    long totalOut = 0;
    for (Map.Entry<String, ModelUsage> e : usage.entrySet()) {
      ModelEndpoint m = config.models().get(e.getKey());
      ModelUsage u = e.getValue();
      double cost = m == null ? 0 : m.costUsd(u.promptTokens(), u.completionTokens());
      ObjectNode n = models.putObject(e.getKey());
      n.put("model_id", m == null ? null : m.modelId());
      n.put("execution", m != null && m.batch() != null ? "batch" : "online");
      n.put("price_factor", m == null ? 1.0 : m.priceFactor());
      n.put("calls", u.calls());
      n.put("cache_hits", u.cacheHits());
      n.put("paid_calls", u.paidCalls());
      n.put("budget_refused", u.budgetRefused());
      n.put("failures", u.failures());
      n.put("retries", u.retries());
      n.put("rate_limited", u.rateLimited());
      n.put("prompt_tokens", u.promptTokens());
      n.put("completion_tokens", u.completionTokens());
      n.put("reasoning_tokens", u.reasoningTokens());
      n.put("calls_with_estimated_usage", u.usageEstimated());
      n.put("estimated_cost_usd", cost);
      total += cost;
      totalIn += u.promptTokens();
      totalOut += u.completionTokens();
    }
    ObjectNode totals = root.putObject("totals");
    totals.put("prompt_tokens", totalIn);
    totals.put("completion_tokens", totalOut);
    totals.put("estimated_cost_usd", total);
    totals.put("cache_hits", usage.values().stream().mapToLong(ModelUsage::cacheHits).sum());
    totals.put("paid_calls", usage.values().stream().mapToLong(ModelUsage::paidCalls).sum());
    totals.put("reasoning_tokens", usage.values().stream().mapToLong(ModelUsage::reasoningTokens).sum());
    totals.put("calls_with_estimated_usage", usage.values().stream().mapToLong(ModelUsage::usageEstimated).sum());
    ObjectNode t = root.putObject("timings");
    t.put("started_at", started.toString());
    t.put("finished_at", finished.toString());
    t.put("wall_seconds", (finished.toEpochMilli() - started.toEpochMilli()) / 1000.0);
    ObjectNode shards = root.putObject("shards");
    shards.putPOJO("parquet", list(output.resolve(kind.shardDir()).resolve("parquet")));
    shards.putPOJO("avro", list(output.resolve(kind.shardDir()).resolve("avro")));
    shards.putPOJO("dead_letters", list(output.resolve(SftPipeline.DEAD_LETTER_DIR)));
    shards.putPOJO("dropped", list(output.resolve(SftPipeline.DROPPED_DIR)));
    return root;
  }

  private static java.util.List<String> list(StoragePath dir) throws IOException {
    return dir.files("").stream().map(StoragePath::fileName).filter(n -> !n.startsWith(".")).sorted().toList();
  }

  /**
   * Adds what the preflight's probes found and cost ({@code preflight}) and counts their requests,
   * tokens and cost into the totals: they were paid like any call.
   */
  /**
   * Sets the manifest's {@code preflight} section ({@link #preflightSection}) and adds its paid
   * probes to the run's totals.
   */
  public static void addPreflight(ObjectNode manifest, com.fasterxml.jackson.databind.JsonNode pf) {
    manifest.set("preflight", pf);
    ObjectNode totals = (ObjectNode) manifest.get("totals");
    totals.put("prompt_tokens", totals.path("prompt_tokens").asLong() + pf.path("prompt_tokens").asLong());
    totals.put("completion_tokens", totals.path("completion_tokens").asLong() + pf.path("completion_tokens").asLong());
    totals.put("estimated_cost_usd", totals.path("estimated_cost_usd").asDouble()
        + pf.path("estimated_cost_usd").asDouble());
    totals.put("paid_calls", totals.path("paid_calls").asLong() + pf.path("requests").asLong());
  }

  /** The {@code preflight} section of a manifest: what each probe cost, and their sums. */
  public static ObjectNode preflightSection(java.util.List<dev.moaa.transforms.moa.Preflight.Result> results,
      MoaaConfig config) {
    ObjectNode pf = JSON.createObjectNode();
    pf.put("enabled", !results.isEmpty());
    long in = 0;
    long out = 0;
    long sent = 0;
    double cost = 0;
    boolean estimated = false;
    com.fasterxml.jackson.databind.node.ArrayNode list = pf.putArray("models");
    for (dev.moaa.transforms.moa.Preflight.Result r : results) {
      ObjectNode n = list.addObject();
      n.put("model", r.endpoint().name());
      n.put("ok", r.ok());
      n.put("cached", r.cached());
      n.put("prompt_tokens", r.usage().promptTokens());
      n.put("completion_tokens", r.usage().completionTokens());
      if (!r.cached()) {
        sent++;
      }
      in += r.usage().promptTokens();
      out += r.usage().completionTokens();
      estimated |= r.usage().estimated();
      cost += r.endpoint().costUsd(r.usage().promptTokens(), r.usage().completionTokens());
    }
    pf.put("requests", sent);
    pf.put("prompt_tokens", in);
    pf.put("completion_tokens", out);
    pf.put("usage_estimated", estimated);
    pf.put("estimated_cost_usd", cost);
    return pf;
  }

  /**
   * Sets the paid figures from the folder's call ledger, which every attempt of the job wrote as
   * each request went out and ended (a restarted job's lost attempts included): per model (online
   * models) {@code paid_calls}, tokens and cost of this launch's calls; in the totals those plus the
   * preflight's probes; and a {@code ledger} section with this launch's and the whole folder's
   * figures, requests in doubt (sent by a process that died before the answer: possibly billed)
   * with their worst case, and what the folder spent before this launch. Nothing changes when the
   * ledger holds no request of this launch (a run whose models were all answered from the cache).
   */
  public static void addLedger(ObjectNode manifest, MoaaConfig config, dev.moaa.transforms.budget.CallLedger.Summary ledger,
      String ledgerDir) {
    String launch = config.budget().launch();
    var all = ledger.select(launch, null);
    ObjectNode n = manifest.putObject("ledger");
    n.put("run_id", config.budget().runId());
    n.put("launch", launch);
    n.put("location", ledgerDir);
    n.set("this_launch", totals(all));
    n.set("folder", totals(ledger.all()));
    var before = ledger.before(launch);
    n.put("spent_before_this_launch_usd", before.costUsd());
    if (all.requests() == 0) {
      return;
    }
    ObjectNode models = (ObjectNode) manifest.get("models");
    Map<String, dev.moaa.transforms.budget.CallLedger.Totals> calls = ledger.byModel(launch,
        dev.moaa.transforms.budget.CallLedger.CALL);
    calls.forEach((model, t) -> {
      ModelEndpoint m = config.models().get(model);
      if (m == null || m.batch() != null || models == null) {
        return;
      }
      ObjectNode mn = models.has(model) ? (ObjectNode) models.get(model) : models.putObject(model);
      mn.put("paid_calls", t.requests());
      mn.put("prompt_tokens", t.promptTokens());
      mn.put("completion_tokens", t.completionTokens());
      mn.put("reasoning_tokens", t.reasoningTokens());
      mn.put("estimated_cost_usd", t.costUsd());
      if (t.inDoubt() > 0) {
        mn.put("paid_calls_in_doubt", t.inDoubt());
      }
    });
    boolean anyBatch = config.models().values().stream().anyMatch(m -> m.batch() != null);
    if (anyBatch) {
      return; // batch lines are not in the ledger yet: the totals stay the counters'
    }
    ObjectNode totals = (ObjectNode) manifest.get("totals");
    totals.put("paid_calls", all.requests());
    totals.put("paid_calls_in_doubt", all.inDoubt());
    totals.put("prompt_tokens", all.promptTokens());
    totals.put("completion_tokens", all.completionTokens());
    totals.put("reasoning_tokens", all.reasoningTokens());
    totals.put("estimated_cost_usd", all.costUsd());
    totals.put("usage_source", "ledger");
  }

  private static ObjectNode totals(dev.moaa.transforms.budget.CallLedger.Totals t) {
    ObjectNode n = JSON.createObjectNode();
    n.put("requests", t.requests());
    n.put("answered", t.answered());
    n.put("in_doubt", t.inDoubt());
    n.put("prompt_tokens", t.promptTokens());
    n.put("completion_tokens", t.completionTokens());
    n.put("cost_usd", t.costUsd());
    n.put("in_doubt_worst_case_usd", t.inDoubtWorstUsd());
    return n;
  }

  public static void write(ObjectNode manifest, StoragePath file) throws IOException {
    file.writeString(JSON.writeValueAsString(manifest) + "\n");
  }
}

package dev.moaa.pipelines.report;

import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.RunFiles;
import dev.moaa.pipelines.RunKind;
import dev.moaa.pipelines.SftPipeline;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moaa.transforms.client.ModelEndpoint;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import dev.moaa.transforms.io.StoragePath;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.apache.avro.file.DataFileStream;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.Chart;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.colors.ColorBlindFriendlySeriesColors;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * {@code report.html}: one self-contained page about a finished run, written next to its shards.
 * It reads the manifest, the Avro shards, the dead letters and the dropped rows back from the
 * output folder, and draws its charts with XChart as PNG images embedded as data URIs, so the page
 * opens from disk with no server and no network.
 *
 * <p>Figures per model come from the calls recorded in the rows' lineage and in the dead letters
 * (a call shared by several parts of a row, such as one sampling call for K candidates, counts once).
 * Charts over time place each call at its recorded start ({@code started_at_ms}); files written
 * before calls carried their time draw no time charts. 429s are the attempts a call saw answered
 * {@code 429} ({@code rate_limited}), apart from its other retried failures.
 */
public final class RunReport {
  public static final String FILE = RunFiles.REPORT;
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int WIDTH = 1000;
  private static final int HEIGHT = 420;

  /** One chart of the page: an id, a title, a caption, and the PNG (null when there was nothing to draw). */
  record Section(String id, String title, String caption, CompletableFuture<byte[]> rendering) {
    /** The chart as PNG, once drawn; null when there was nothing to draw. */
    byte[] png() {
      try {
        return rendering == null ? null : rendering.join();
      } catch (CompletionException e) {
        throw e.getCause() instanceof RuntimeException r ? r : e;
      }
    }
  }

  /** Charts are drawn and PNG-encoded on the cores while the page is put together. */
  private static final ExecutorService RENDERERS = Executors.newFixedThreadPool(
      Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors())), r -> {
        Thread t = new Thread(r, "moaa-report-chart");
        t.setDaemon(true);
        return t;
      });

  /**
   * What the charts need from the calls, rows, dead letters and drops a run left in its folder.
   * Rows are read one at a time and not kept. Every call adds to exact tallies per model (calls by
   * how they ended, 429s, retries, failures by kind, tokens per stage, the span of call starts); the
   * charts of distributions and of time (latency percentiles, calls over time, answer lengths) are
   * drawn from a uniform sample of at most {@value #SAMPLE} calls (all of them in a smaller run;
   * counts over time are scaled up by the sampled share), so the report of any run needs at most
   * a few tens of megabytes.
   */
  static final class RunData {
    /** The most calls kept for the charts of distributions and of time. */
    static final int SAMPLE = 250_000;

    final List<GenericRecord> calls = new ArrayList<>();
    /** Every call seen, sampled or not. */
    long seen;
    final Map<String, Long> deadLetterReasons = new TreeMap<>();
    final Map<String, Long> droppedReasons = new TreeMap<>();
    final List<Double> margins = new ArrayList<>();
    long marginsSeen;
    final Map<String, long[]> agreement = new TreeMap<>();
    final Map<String, long[]> judges = new TreeMap<>();
    final long[] finalVerdict = new long[2];
    /** Per model: paid, cached, failed, 429 answers, other retried attempts. */
    final Map<String, long[]> perModel = new TreeMap<>();
    final Map<String, Map<String, Long>> failuresByKind = new TreeMap<>();
    /** Per stage, per model: prompt and completion tokens of paid, answered calls. */
    final Map<String, Map<String, long[]>> tokens = new TreeMap<>();
    long firstStart = Long.MAX_VALUE;
    long lastStart = Long.MIN_VALUE;
    private final Map<String, String> names = new HashMap<>();
    private final SplittableRandom draw = new SplittableRandom(20250601L);

    void addCalls(Collection<GenericRecord> found) {
      for (GenericRecord c : found) {
        SlimCall call = SlimCall.of(c, names);
        tally(call);
        // a uniform sample (reservoir): the i-th call replaces a kept one with chance SAMPLE / i
        seen++;
        if (calls.size() < SAMPLE) {
          calls.add(call);
        } else {
          long j = draw.nextLong(seen);
          if (j < SAMPLE) {
            calls.set((int) j, call);
          }
        }
      }
    }

    void addMargin(double margin) {
      marginsSeen++;
      if (margins.size() < SAMPLE) {
        margins.add(margin);
      } else {
        long j = draw.nextLong(marginsSeen);
        if (j < SAMPLE) {
          margins.set((int) j, margin);
        }
      }
    }

    /** How many calls each sampled call stands for (1 when every call is kept). */
    double scale() {
      return calls.isEmpty() ? 1 : (double) seen / calls.size();
    }

    boolean sampled() {
      return seen > calls.size();
    }

    private void tally(GenericRecord c) {
      String model = str(c, "model");
      long[] s = perModel.computeIfAbsent(model, m -> new long[5]);
      if (flag(c, "cached")) {
        s[1]++;
        return;
      }
      Long at = startedAt(c);
      if (at != null) {
        firstStart = Math.min(firstStart, at);
        lastStart = Math.max(lastStart, at);
      }
      s[0]++;
      long limited = num(c, "rate_limited");
      boolean endedOn429 = !flag(c, "ok") && "rate_limited".equals(str(c, "error_kind"));
      s[3] += limited;
      s[4] += Math.max(0, num(c, "attempts") - 1 - (limited - (endedOn429 ? 1 : 0)));
      if (!flag(c, "ok")) {
        s[2]++;
        failuresByKind.computeIfAbsent(model, m -> new TreeMap<>())
            .merge(String.valueOf(str(c, "error_kind")), 1L, Long::sum);
        return;
      }
      long[] t = tokens.computeIfAbsent(str(c, "role"), r -> new TreeMap<>())
          .computeIfAbsent(model, m -> new long[2]);
      t[0] += num(c, "prompt_tokens");
      t[1] += num(c, "completion_tokens");
    }

    /** The section note of a chart drawn from the sample; empty when every call is in it. */
    String sampleNote() {
      return sampled() ? String.format(Locale.ROOT, " Drawn from a uniform sample of %,d of the run's %,d calls.",
          calls.size(), seen) : "";
    }
  }

  private RunReport() {}

  /** Writes {@code report.html} into {@code output} and returns its path. */
  public static StoragePath write(StoragePath output, RunKind kind, JsonNode manifest, MoaaConfig config)
      throws IOException {
    System.setProperty("java.awt.headless", "true");
    RunData data = read(output, kind.shardDir());
    List<Section> sections = "dpo".equals(kind.command())
        ? dpoSections(data, config) : sftSections(data, config);
    StoragePath file = output.resolve(FILE);
    file.writeString(html(kind, manifest, sections));
    return file;
  }

  static RunData read(StoragePath output, String shardDir) throws IOException {
    RunData data = new RunData();
    for (StoragePath f : output.resolve(shardDir).resolve("avro").files(".avro")) {
      try (DataFileStream<GenericRecord> r = new DataFileStream<>(f.open(), new GenericDatumReader<>())) {
        GenericRecord row = null;
        while (r.hasNext()) {
          row = r.next(row);
          Set<GenericRecord> calls = new LinkedHashSet<>();
          collectCalls(row, calls);
          data.addCalls(calls);
          tallyPreferences(row, data);
        }
      }
    }
    for (StoragePath f : output.resolve(SftPipeline.DEAD_LETTER_DIR).files(".jsonl")) {
      for (String line : f.readString().split("\n")) {
        if (line.isBlank()) {
          continue;
        }
        JsonNode d = JSON.readTree(line);
        data.deadLetterReasons.merge(d.path("stage").asText("?") + ": " + d.path("reason").asText("?"), 1L, Long::sum);
        Set<GenericRecord> calls = new LinkedHashSet<>();
        for (JsonNode c : d.path("calls")) {
          calls.add(callFromJson(c));
        }
        data.addCalls(calls);
      }
    }
    for (StoragePath f : output.resolve(SftPipeline.DROPPED_DIR).files(".jsonl")) {
      for (String line : f.readString().split("\n")) {
        if (!line.isBlank()) {
          data.droppedReasons.merge(JSON.readTree(line).path("reason").asText("?"), 1L, Long::sum);
        }
      }
    }
    return data;
  }

  /** Every nested record of schema {@code Call}, wherever the lineage keeps it. */
  private static void collectCalls(Object value, Collection<GenericRecord> calls) {
    if (value instanceof GenericRecord r) {
      if ("Call".equals(r.getSchema().getName())) {
        calls.add(r);
        return;
      }
      for (org.apache.avro.Schema.Field f : r.getSchema().getFields()) {
        collectCalls(r.get(f.pos()), calls);
      }
    } else if (value instanceof Collection<?> c) {
      c.forEach(v -> collectCalls(v, calls));
    }
  }

  /** The dead letters' calls are JSON; read them into the same record type as the shards' calls. */
  private static GenericRecord callFromJson(JsonNode c) {
    org.apache.avro.generic.GenericData.Record r =
        new org.apache.avro.generic.GenericData.Record(dev.moaa.schemas.Call.getClassSchema());
    r.put("model", c.path("model").asText());
    r.put("model_id", c.path("model_id").asText(""));
    r.put("role", c.path("role").asText());
    r.put("turn", c.path("turn").asInt());
    r.put("layer", c.path("layer").asInt());
    r.put("ok", c.path("ok").asBoolean());
    r.put("content", c.path("content").isTextual() ? c.path("content").asText() : null);
    r.put("prompt_tokens", c.path("prompt_tokens").asLong());
    r.put("completion_tokens", c.path("completion_tokens").asLong());
    r.put("attempts", c.path("attempts").asInt());
    r.put("rate_limited", c.path("rate_limited").asInt());
    r.put("latency_ms", c.path("latency_ms").asLong());
    r.put("started_at_ms", c.path("started_at_ms").isNumber() ? c.path("started_at_ms").asLong() : null);
    r.put("ended_at_ms", c.path("ended_at_ms").isNumber() ? c.path("ended_at_ms").asLong() : null);
    r.put("error_kind", c.path("error_kind").isTextual() ? c.path("error_kind").asText() : null);
    r.put("cached", c.path("cached").asBoolean());
    r.put("request_hash", c.path("request_hash").asText(""));
    return r;
  }

  /** A field's value; null where the record's schema (an older file's) has no such field. */
  private static Object get(GenericRecord r, String field) {
    return r.getSchema().getField(field) == null ? null : r.get(field);
  }

  private static String str(GenericRecord r, String field) {
    Object v = get(r, field);
    return v == null ? null : v.toString();
  }

  private static long num(GenericRecord r, String field) {
    return get(r, field) instanceof Number n ? n.longValue() : 0;
  }

  private static boolean flag(GenericRecord r, String field) {
    return Boolean.TRUE.equals(get(r, field));
  }

  // ---- sections shared by both commands ----

  private static List<Section> commonSections(RunData d, MoaaConfig config) {
    List<Section> out = new ArrayList<>();
    Map<String, long[]> perModel = d.perModel;
    Map<String, Map<String, Long>> failuresByKind = d.failuresByKind;
    Map<String, List<Long>> latency = new TreeMap<>();
    for (GenericRecord c : d.calls) {
      if (!flag(c, "cached") && flag(c, "ok")) {
        latency.computeIfAbsent(str(c, "model"), m -> new ArrayList<>()).add(num(c, "latency_ms"));
      }
    }
    Map<String, Map<String, Long>> tokens = new TreeMap<>();
    Map<String, Map<String, Double>> cost = new TreeMap<>();
    d.tokens.forEach((role, byModel) -> byModel.forEach((model, t) -> {
      tokens.computeIfAbsent(role, r -> new TreeMap<>()).put(model, t[0] + t[1]);
      ModelEndpoint m = config.models().get(model);
      cost.computeIfAbsent(role, r -> new TreeMap<>()).put(model, m == null ? 0 : m.costUsd(t[0], t[1]));
    }));
    List<String> models = new ArrayList<>(perModel.keySet());
    Timeline timeline = d.firstStart > d.lastStart ? null : Timeline.of(d.firstStart, d.lastStart);

    CategoryChart calls = bars("Calls per model", "model", "calls");
    if (!models.isEmpty()) {
      calls.addSeries("paid, answered", models, models.stream().map(m -> perModel.get(m)[0] - perModel.get(m)[2]).toList());
      calls.addSeries("from the cache", models, models.stream().map(m -> perModel.get(m)[1]).toList());
      calls.addSeries("failed after retries", models, models.stream().map(m -> perModel.get(m)[2]).toList());
    }
    out.add(section("calls", "Calls per model", "Every call of the run, by how it ended.", calls, !models.isEmpty()));

    out.add(callsOverTime(d, models, timeline));

    CategoryChart lat = bars("Latency percentiles per model (paid, answered calls)", "model", "milliseconds");
    List<String> latModels = new ArrayList<>(latency.keySet());
    for (double q : PERCENTILES) {
      if (!latModels.isEmpty()) {
        lat.addSeries("p" + Math.round(q * 100), latModels, latModels.stream().map(m -> percentile(latency.get(m), q)).toList());
      }
    }
    out.add(section("latency", "Latency percentiles per model",
        "p50, p90 and p99 of the time to an answer, retries included." + d.sampleNote(),
        lat, !latModels.isEmpty()));

    out.add(latencyOverTime(d, models, timeline));

    long all429 = perModel.values().stream().mapToLong(s -> s[3]).sum();
    CategoryChart retries = bars("429s, other retried attempts and final failures (" + all429 + " 429s in all)", "model", "count");
    if (!models.isEmpty()) {
      retries.addSeries("429 answers (rate limited)", models, models.stream().map(m -> perModel.get(m)[3]).toList());
      retries.addSeries("other retried attempts (5xx, timeouts, ...)", models, models.stream().map(m -> perModel.get(m)[4]).toList());
      for (String kind : failuresByKind.values().stream().flatMap(k -> k.keySet().stream()).distinct().sorted().toList()) {
        retries.addSeries("failed: " + kind, models, models.stream()
            .map(m -> failuresByKind.getOrDefault(m, Map.of()).getOrDefault(kind, 0L)).toList());
      }
    }
    out.add(section("retries", "429s, retries and failures per model",
        "Attempts the endpoint answered 429 (rate limited), the other retried attempts (5xx, timeouts, connection"
            + " errors, unusable answers), and calls that failed for good, by kind.",
        retries, !models.isEmpty()));

    out.add(rateLimitedOverTime(d, models, timeline, all429));

    CategoryChart tok = bars("Tokens (prompt + completion) per model and stage", "model", "tokens");
    tok.getStyler().setStacked(true);
    tokens.forEach((role, byModel) -> tok.addSeries(role, models, models.stream().map(m -> byModel.getOrDefault(m, 0L)).toList()));
    out.add(section("tokens", "Tokens per model and stage", "Paid calls only; answers from the cache cost nothing.",
        tok, !tokens.isEmpty()));

    CategoryChart usd = bars("Estimated cost (USD) per model and stage", "model", "USD");
    usd.getStyler().setStacked(true);
    cost.forEach((role, byModel) -> usd.addSeries(role, models, models.stream().map(m -> byModel.getOrDefault(m, 0.0)).toList()));
    out.add(section("cost", "Cost per model and stage", "At the prices in the config, per million tokens.",
        usd, !cost.isEmpty()));

    out.add(reasons("dead-letters", "Dead letters by reason", "stage: reason", d.deadLetterReasons,
        "Rows that could not be completed; each one is in dead-letters/ with its input and calls."));
    return out;
  }

  private static final double[] PERCENTILES = {0.5, 0.9, 0.99};
  private static final BasicStroke[] PERCENTILE_LINES = {SeriesLines.SOLID, SeriesLines.DASH_DASH, SeriesLines.DOT_DOT};
  private static final String NO_TIMES = " (Calls in files written before calls recorded their start time draw nothing here.)";

  /** Paid calls started per time bucket, one line per model. */
  private static Section callsOverTime(RunData d, List<String> models, Timeline t) {
    XYChart chart = lines("Calls sent per model over time", t, "calls started per " + (t == null ? "" : t.width()));
    if (t != null) {
      Map<String, double[]> started = new TreeMap<>();
      for (GenericRecord c : d.calls) {
        Long at = startedAt(c);
        if (at != null && !flag(c, "cached")) {
          started.computeIfAbsent(str(c, "model"), m -> new double[t.buckets()])[t.bucket(at)] += d.scale();
        }
      }
      started.forEach((m, counts) -> line(chart, m, t.xs(), counts, colour(models, m), SeriesLines.SOLID));
    }
    return section("calls-over-time", "Calls per model over time",
        "Calls sent to each model's endpoint, by when they started (answers from the cache are left out)." + NO_TIMES
            + d.sampleNote(),
        chart, t != null);
  }

  /** p50, p90 and p99 latency per time bucket: one colour per model, one line style per percentile. */
  private static Section latencyOverTime(RunData d, List<String> models, Timeline t) {
    XYChart chart = lines("Latency percentiles per model over time (paid, answered calls)", t, "milliseconds");
    boolean any = false;
    if (t != null) {
      Map<String, List<List<Long>>> byBucket = new TreeMap<>();
      for (GenericRecord c : d.calls) {
        Long at = startedAt(c);
        if (at != null && !flag(c, "cached") && flag(c, "ok")) {
          byBucket.computeIfAbsent(str(c, "model"), m -> {
            List<List<Long>> b = new ArrayList<>();
            for (int i = 0; i < t.buckets(); i++) {
              b.add(new ArrayList<>());
            }
            return b;
          }).get(t.bucket(at)).add(num(c, "latency_ms"));
        }
      }
      for (Map.Entry<String, List<List<Long>>> e : byBucket.entrySet()) {
        for (int q = 0; q < PERCENTILES.length; q++) {
          List<Double> xs = new ArrayList<>();
          List<Long> ys = new ArrayList<>();
          for (int i = 0; i < t.buckets(); i++) {
            List<Long> values = e.getValue().get(i);
            if (!values.isEmpty()) {
              xs.add(t.x(i));
              ys.add(percentile(values, PERCENTILES[q]));
            }
          }
          line(chart, e.getKey() + " p" + Math.round(PERCENTILES[q] * 100), xs, ys, colour(models, e.getKey()),
              PERCENTILE_LINES[q]);
          any = true;
        }
      }
    }
    return section("latency-over-time", "Latency percentiles per model over time",
        "p50 (solid), p90 (dashed) and p99 (dotted) of the time to an answer of the calls started in each interval,"
            + " retries included." + NO_TIMES + d.sampleNote(),
        chart, any);
  }

  /** 429 answers per time bucket (by the start of the call that got them), one line per model. */
  private static Section rateLimitedOverTime(RunData d, List<String> models, Timeline t, long all429) {
    XYChart chart = lines("429 answers per model over time (" + all429 + " in all)", t,
        "429s per " + (t == null ? "" : t.width()));
    if (t != null) {
      Map<String, double[]> limited = new TreeMap<>();
      for (GenericRecord c : d.calls) {
        Long at = startedAt(c);
        if (at != null && !flag(c, "cached")) {
          limited.computeIfAbsent(str(c, "model"), m -> new double[t.buckets()])[t.bucket(at)]
              += num(c, "rate_limited") * d.scale();
        }
      }
      limited.forEach((m, counts) -> line(chart, m, t.xs(), counts, colour(models, m), SeriesLines.SOLID));
    }
    return section("rate-limited-over-time", "429s per model over time",
        "Attempts the endpoint answered 429 (rate limited), " + all429 + " in all, placed at the start of the call"
            + " that received them." + NO_TIMES + d.sampleNote(),
        chart, t != null);
  }

  private static List<Section> sftSections(RunData d, MoaaConfig config) {
    List<Section> out = commonSections(d, config);
    List<Long> proposals = new ArrayList<>();
    List<Long> aggregated = new ArrayList<>();
    for (GenericRecord c : d.calls) {
      long words = num(c, SlimCall.WORDS);
      if (!flag(c, "ok") || words < 0) {
        continue;
      }
      if ("aggregator".equals(str(c, "role"))) {
        aggregated.add(words);
      } else if ("proposer".equals(str(c, "role"))) {
        proposals.add(words);
      }
    }
    CategoryChart len = bars("Answer length: proposals vs aggregated answers", "words", "share of answers (%)");
    boolean any = !proposals.isEmpty() && !aggregated.isEmpty();
    if (any) {
      long min = Math.min(proposals.stream().mapToLong(Long::longValue).min().orElse(0),
          aggregated.stream().mapToLong(Long::longValue).min().orElse(0));
      long max = Math.max(proposals.stream().mapToLong(Long::longValue).max().orElse(1),
          aggregated.stream().mapToLong(Long::longValue).max().orElse(1));
      List<String> bins = binLabels(min, max);
      len.addSeries("proposals (" + proposals.size() + ")", bins, histogram(proposals, min, max));
      len.addSeries("aggregated (" + aggregated.size() + ")", bins, histogram(aggregated, min, max));
    }
    out.add(out.size() - 1, section("lengths", "Proposals vs aggregated answers",
        "Words per answer, as a share of each group." + d.sampleNote(), len, any));
    out.add(reasons("dropped", "Rows dropped and why", "reason", d.droppedReasons,
        "Rows removed before any call: duplicates and benchmark contamination."));
    return out;
  }

  private static List<Section> dpoSections(RunData d, MoaaConfig config) {
    List<Section> out = commonSections(d, config);
    List<Double> margins = d.margins;
    Map<String, long[]> agreement = d.agreement;
    Map<String, long[]> consistency = new LinkedHashMap<>();
    consistency.put(FINAL_VERDICT, d.finalVerdict);
    Map<String, long[]> judges = d.judges;
    consistency.putAll(judges);
    CategoryChart m = bars("Score margin (chosen - rejected)", "margin", "preference pairs");
    if (!margins.isEmpty()) {
      double max = margins.stream().mapToDouble(Double::doubleValue).max().orElse(1);
      int n = 10;
      double step = Math.max(max, 1e-9) / n;
      List<String> labels = new ArrayList<>();
      List<Long> counts = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        labels.add(String.format(Locale.ROOT, "%.2f-%.2f", step * i, step * (i + 1)));
        counts.add(0L);
      }
      for (double v : margins) {
        int i = Math.max(0, Math.min(n - 1, (int) Math.floor(v / step)));
        counts.set(i, counts.get(i) + 1);
      }
      m.addSeries("pairs", labels, counts);
    }
    out.add(section("margins", "Score margins", "Distance between the chosen and the rejected answer's scores.",
        m, !margins.isEmpty()));

    CategoryChart agree = bars("Judge agreement: votes that matched the final verdict", "judge", "votes");
    List<String> voters = new ArrayList<>(agreement.keySet());
    if (!voters.isEmpty()) {
      agree.addSeries("vote = verdict", voters, voters.stream().map(j -> agreement.get(j)[0]).toList());
      agree.addSeries("vote differs", voters, voters.stream().map(j -> agreement.get(j)[1]).toList());
    }
    out.add(section("agreement", "Judge agreement",
        "Per judge, its readable votes that named the same winner as the pair's final verdict (in the moa mode,"
            + " the lead judge's), and those that did not.",
        agree, !voters.isEmpty()));

    CategoryChart pos = bars("Position consistency: same winner when the order is swapped", "", "judged pairs");
    long judged = consistency.get(FINAL_VERDICT)[0] + consistency.get(FINAL_VERDICT)[1];
    if (judged > 0) {
      List<String> who = new ArrayList<>(consistency.keySet());
      pos.addSeries("same winner in both orders", who, who.stream().map(j -> consistency.get(j)[0]).toList());
      pos.addSeries("winner changed", who, who.stream().map(j -> consistency.get(j)[1]).toList());
    }
    out.add(section("consistency", "Position consistency",
        "Pairs judged as (A, B) and as (B, A): the final verdict, and each judge's own vote, kept or changed its winner.",
        pos, judged > 0));
    out.add(reasons("dropped", "Prompts dropped and why", "reason", d.droppedReasons,
        "Prompts without a preference pair: no clear margin, duplicates, contamination."));
    return out;
  }

  private static final String FINAL_VERDICT = "final verdict";

  /** Adds one DPO row (its margin, its judges' votes in both orders) to the running tallies; other rows add nothing. */
  private static void tallyPreferences(GenericRecord row, RunData d) {
    Object sc = get(row, "score_chosen");
    Object sr = get(row, "score_rejected");
    if (sc instanceof Number a && sr instanceof Number b) {
      d.addMargin(a.doubleValue() - b.doubleValue());
    }
    if (!(get(row, "pairs") instanceof Collection<?> pairs)) {
      return;
    }
    for (Object p : pairs) {
      GenericRecord pair = (GenericRecord) p;
      d.finalVerdict[flag(pair, "consistent") ? 0 : 1]++;
      GenericRecord ab = (GenericRecord) get(pair, "ab");
      GenericRecord ba = (GenericRecord) get(pair, "ba");
      for (GenericRecord j : new GenericRecord[] {ab, ba}) {
        String verdict = j == null ? null : str(j, "verdict");
        for (GenericRecord v : votes(j)) {
          String vote = str(v, "verdict");
          if (verdict != null && vote != null) {
            d.agreement.computeIfAbsent(str(v, "model"), m -> new long[2])[verdict.equals(vote) ? 0 : 1]++;
          }
        }
      }
      Map<String, Integer> first = winners(ab);
      Map<String, Integer> second = winners(ba);
      first.forEach((judge, w) -> {
        Integer other = second.get(judge);
        if (other != null) {
          d.judges.computeIfAbsent(judge, m -> new long[2])[w.equals(other) ? 0 : 1]++;
        }
      });
    }
  }

  private static List<GenericRecord> votes(GenericRecord judgment) {
    List<GenericRecord> out = new ArrayList<>();
    if (judgment != null && get(judgment, "votes") instanceof Collection<?> votes) {
      votes.forEach(v -> out.add((GenericRecord) v));
    }
    return out;
  }

  /** Each judge's winner (candidate index, -1 for a tie) in one judgment; unreadable votes left out. */
  private static Map<String, Integer> winners(GenericRecord judgment) {
    Map<String, Integer> out = new TreeMap<>();
    if (judgment == null) {
      return out;
    }
    int first = (int) num(judgment, "first");
    int second = (int) num(judgment, "second");
    Set<String> voters = new HashSet<>();
    for (GenericRecord v : votes(judgment)) {
      voters.add(str(v, "model"));
      putWinner(out, str(v, "model"), str(v, "verdict"), first, second);
    }
    if (get(judgment, "lead") instanceof GenericRecord lead) {
      String model = str(lead, "model");
      putWinner(out, voters.contains(model) ? model + " (as lead)" : model, str(lead, "verdict"), first, second);
    }
    return out;
  }

  private static void putWinner(Map<String, Integer> out, String judge, String verdict, int first, int second) {
    Integer w = "A".equals(verdict) ? Integer.valueOf(first) : "B".equals(verdict) ? Integer.valueOf(second)
        : "TIE".equals(verdict) ? Integer.valueOf(-1) : null;
    if (w != null) {
      out.put(judge, w);
    }
  }

  // ---- time axis ----

  private static Long startedAt(GenericRecord c) {
    return get(c, "started_at_ms") instanceof Number n ? n.longValue() : null;
  }

  /** Equal intervals of a round width from the first recorded call start to the last, at most 40 of them. */
  record Timeline(long origin, long bucketMs, int buckets) {
    private static final long[] WIDTHS = {10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000,
        60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000};
    static final int MAX_BUCKETS = 40;

    /** The timeline of the calls that recorded their start; null when none did. */
    static Timeline of(List<GenericRecord> calls) {
      long min = Long.MAX_VALUE;
      long max = Long.MIN_VALUE;
      for (GenericRecord c : calls) {
        Long t = startedAt(c);
        if (t != null) {
          min = Math.min(min, t);
          max = Math.max(max, t);
        }
      }
      return min > max ? null : of(min, max);
    }

    /** The timeline from the first call start {@code min} to the last, {@code max} (epoch ms). */
    static Timeline of(long min, long max) {
      long span = max - min + 1;
      long width = 0;
      for (long w : WIDTHS) {
        if ((span + w - 1) / w <= MAX_BUCKETS) {
          width = w;
          break;
        }
      }
      if (width == 0) {
        long hours = (span + 3_600_000L * MAX_BUCKETS - 1) / (3_600_000L * MAX_BUCKETS);
        width = hours * 3_600_000L;
      }
      return new Timeline(min, width, (int) ((span + width - 1) / width));
    }

    int bucket(long t) {
      return (int) Math.max(0, Math.min(buckets - 1, (t - origin) / bucketMs));
    }

    boolean inMinutes() {
      return bucketMs * buckets >= 600_000;
    }

    /** The middle of interval {@code i}, in seconds (or minutes, for long runs) since the first call. */
    double x(int i) {
      double ms = (i + 0.5) * bucketMs;
      return inMinutes() ? ms / 60_000 : ms / 1000;
    }

    List<Double> xs() {
      List<Double> xs = new ArrayList<>();
      for (int i = 0; i < buckets; i++) {
        xs.add(x(i));
      }
      return xs;
    }

    String axis() {
      return (inMinutes() ? "minutes" : "seconds") + " since the first call started";
    }

    String width() {
      return bucketMs < 1_000 ? bucketMs + " ms" : bucketMs < 60_000 ? bucketMs / 1_000 + " s" : bucketMs / 60_000 + " min";
    }
  }

  // ---- chart helpers ----

  private static CategoryChart bars(String title, String x, String y) {
    CategoryChart c = new CategoryChartBuilder().width(WIDTH).height(HEIGHT).title(title).xAxisTitle(x).yAxisTitle(y).build();
    c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
    c.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
    c.getStyler().setXAxisLabelRotation(0);
    return c;
  }

  private static XYChart lines(String title, Timeline t, String y) {
    XYChart c = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title)
        .xAxisTitle(t == null ? "time" : t.axis()).yAxisTitle(y).build();
    c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
    c.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
    c.getStyler().setXAxisDecimalPattern("0.##");
    c.getStyler().setYAxisMin(0.0);
    c.getStyler().setMarkerSize(5);
    return c;
  }

  private static void line(XYChart chart, String name, List<Double> xs, List<? extends Number> ys, Color colour,
      BasicStroke stroke) {
    if (xs.isEmpty()) {
      return;
    }
    XYSeries s = chart.addSeries(name, xs, ys);
    s.setLineColor(colour);
    s.setMarkerColor(colour);
    s.setMarker(SeriesMarkers.CIRCLE);
    s.setLineStyle(stroke);
  }

  private static void line(XYChart chart, String name, List<Double> xs, double[] ys, Color colour, BasicStroke stroke) {
    List<Double> values = new ArrayList<>();
    for (double y : ys) {
      values.add(y);
    }
    line(chart, name, xs, values, colour, stroke);
  }

  /** One colour per model, the same in every time chart. */
  private static Color colour(List<String> models, String model) {
    Color[] palette = new ColorBlindFriendlySeriesColors().getSeriesColors();
    return palette[Math.max(0, models.indexOf(model)) % palette.length];
  }

  private static Section reasons(String id, String title, String x, Map<String, Long> counts, String caption) {
    CategoryChart c = bars(title, x, "rows");
    if (!counts.isEmpty()) {
      c.addSeries("rows", new ArrayList<>(counts.keySet()), new ArrayList<>(counts.values()));
    }
    return section(id, title, caption, c, !counts.isEmpty());
  }

  /** The chart as PNG ({@link ChartPng}). */
  static byte[] png(BufferedImage image) throws IOException {
    return ChartPng.encode(image);
  }

  /**
   * Draws a small line chart and a bar chart the way the report does and throws them away: the
   * first charts a JVM draws load and compile the drawing and PNG code (measured: the first report
   * of a JVM took 0.8 s, the third 0.2 s). The run's warm-up ({@code RunWarmUp}, through {@link Reports}) calls it while a run waits for its
   * endpoints, so the report at the end starts warm.
   */
  static void warmUp() throws IOException {
    System.setProperty("java.awt.headless", "true");
    XYChart xy = lines("warm-up", null, "calls");
    line(xy, "a", List.of(0.0, 1.0, 2.0), List.of(1, 3, 2), Color.BLUE, PERCENTILE_LINES[0]);
    line(xy, "b", List.of(0.0, 1.0, 2.0), new double[] {2, 1, 3}, Color.RED, PERCENTILE_LINES[1]);
    png(BitmapEncoder.getBufferedImage(xy));
    CategoryChart bars = bars("warm-up", "model", "calls");
    bars.addSeries("calls", List.of("a", "b"), List.of(3, 4));
    png(BitmapEncoder.getBufferedImage(bars));
  }

  private static Section section(String id, String title, String caption, Chart<?, ?> chart, boolean hasData) {
    if (!hasData) {
      return new Section(id, title, caption, null);
    }
    return new Section(id, title, caption, CompletableFuture.supplyAsync(() -> {
      try {
        return png(BitmapEncoder.getBufferedImage(chart));
      } catch (IOException e) {
        throw new IllegalStateException("cannot render the chart " + id + ": " + e.getMessage(), e);
      }
    }, RENDERERS));
  }

  static long percentile(List<Long> values, double q) {
    List<Long> sorted = values.stream().sorted().toList();
    int i = (int) Math.ceil(q * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i)));
  }

  private static final int BINS = 12;

  /** Bins of equal width from the shortest to the longest answer. */
  private static List<String> binLabels(long min, long max) {
    long width = Math.max(1, (max - min + BINS) / BINS);
    List<String> labels = new ArrayList<>();
    for (int i = 0; i < BINS; i++) {
      labels.add((min + i * width) + "-" + (min + (i + 1) * width - 1));
    }
    return labels;
  }

  private static List<Double> histogram(List<Long> values, long min, long max) {
    long width = Math.max(1, (max - min + BINS) / BINS);
    double[] counts = new double[BINS];
    for (long v : values) {
      counts[(int) Math.min(BINS - 1, (v - min) / width)]++;
    }
    List<Double> shares = new ArrayList<>();
    for (double c : counts) {
      shares.add(100.0 * c / values.size());
    }
    return shares;
  }

  // ---- the page ----

  private static String html(RunKind kind, JsonNode manifest, List<Section> sections) {
    StringBuilder b = new StringBuilder();
    String title = "MoAA " + kind.command().toUpperCase(Locale.ROOT) + " run report";
    b.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").append(esc(title))
        .append("</title>\n<style>body{font-family:sans-serif;margin:24px;color:#222;background:#fff}"
            + "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
            + "th{text-align:left}section{margin:24px 0}.empty{color:#777;font-style:italic}</style></head><body>\n");
    b.append("<h1>").append(esc(title)).append("</h1>\n");
    JsonNode c = manifest.path("counts");
    JsonNode t = manifest.path("totals");
    b.append("<table id=\"summary\">");
    row(b, "state", manifest.path("state").asText());
    row(b, "runner", manifest.path("runner").asText());
    row(b, "complete", manifest.path("complete").asText());
    row(b, "rows read", c.path("read").asText());
    row(b, "written", c.path("written").asText());
    row(b, "dead-lettered", c.path("dead_lettered").asText());
    row(b, "dropped", c.path("dropped").asText());
    row(b, "reconciled", c.path("reconciled").asText());
    row(b, "paid calls", t.path("paid_calls").asText());
    row(b, "cache hits", t.path("cache_hits").asText());
    row(b, "tokens in / out", t.path("prompt_tokens").asText() + " / " + t.path("completion_tokens").asText());
    row(b, "estimated cost (USD)", String.format(Locale.ROOT, "%.4f", t.path("estimated_cost_usd").asDouble()));
    row(b, "wall time (s)", manifest.path("timings").path("wall_seconds").asText());
    row(b, "config hash", manifest.path("config_hash").asText());
    b.append("</table>\n");
    for (Section s : sections) {
      b.append("<section class=\"chart\" id=\"").append(s.id()).append("\"><h2>").append(esc(s.title()))
          .append("</h2><p>").append(esc(s.caption())).append("</p>");
      if (s.png() == null) {
        b.append("<p class=\"empty\">nothing to show in this run</p>");
      } else {
        b.append("<img alt=\"").append(esc(s.title())).append("\" width=\"").append(WIDTH).append("\" height=\"")
            .append(HEIGHT).append("\" src=\"data:image/png;base64,")
            .append(Base64.getEncoder().encodeToString(s.png())).append("\">");
      }
      b.append("</section>\n");
    }
    b.append("<p>Charts drawn with XChart. Figures per model come from the calls recorded in the shards' lineage"
        + " and the dead letters; charts over time place each call at the time it started.</p>\n</body></html>\n");
    return b.toString();
  }

  private static void row(StringBuilder b, String name, String value) {
    b.append("<tr><th>").append(esc(name)).append("</th><td>").append(esc(value)).append("</td></tr>");
  }

  private static String esc(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }
}

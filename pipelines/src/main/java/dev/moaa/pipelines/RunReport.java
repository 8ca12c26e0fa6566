package dev.moaa.pipelines;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moaa.transforms.client.ModelEndpoint;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.apache.avro.file.DataFileReader;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.IndexedRecord;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.style.Styler;

/**
 * {@code report.html}: one self-contained page about a finished run, written next to its shards.
 * It reads the manifest, the Avro shards, the dead letters and the dropped rows back from the
 * output folder, and draws its charts with XChart as PNG images embedded as data URIs, so the page
 * opens from disk with no server and no network.
 *
 * <p>Figures per model come from the calls recorded in the rows' lineage and in the dead letters
 * (every call a run made ends in one of them). Calls carry no wall-clock time, so the charts are per
 * model and stage, not over time.
 */
public final class RunReport {
  public static final String FILE = "report.html";
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int WIDTH = 1000;
  private static final int HEIGHT = 420;

  /** One chart of the page: an id, a title, a caption, and the PNG (null when there was nothing to draw). */
  record Section(String id, String title, String caption, byte[] png) {}

  /** The calls, rows, dead letters and drops that a run left in its folder. */
  static final class RunData {
    final List<GenericRecord> calls = new ArrayList<>();
    final List<GenericRecord> rows = new ArrayList<>();
    final Map<String, Long> deadLetterReasons = new TreeMap<>();
    final Map<String, Long> droppedReasons = new TreeMap<>();
  }

  private RunReport() {}

  /** Writes {@code report.html} into {@code output} and returns its path. */
  public static Path write(Path output, RunKind kind, JsonNode manifest, MoaaConfig config) throws IOException {
    System.setProperty("java.awt.headless", "true");
    RunData data = read(output, kind.shardDir());
    List<Section> sections = "dpo".equals(kind.command())
        ? dpoSections(data, config) : sftSections(data, config);
    Path file = output.resolve(FILE);
    Files.writeString(file, html(kind, manifest, sections), StandardCharsets.UTF_8);
    return file;
  }

  static RunData read(Path output, String shardDir) throws IOException {
    RunData data = new RunData();
    for (Path f : files(output.resolve(shardDir).resolve("avro"), ".avro")) {
      try (DataFileReader<GenericRecord> r = new DataFileReader<>(f.toFile(), new GenericDatumReader<>())) {
        for (GenericRecord row : r) {
          data.rows.add(row);
          collectCalls(row, data.calls);
        }
      }
    }
    for (Path f : files(output.resolve(SftPipeline.DEAD_LETTER_DIR), ".jsonl")) {
      for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
        if (line.isBlank()) {
          continue;
        }
        JsonNode d = JSON.readTree(line);
        data.deadLetterReasons.merge(d.path("stage").asText("?") + ": " + d.path("reason").asText("?"), 1L, Long::sum);
        for (JsonNode c : d.path("calls")) {
          data.calls.add(callFromJson(c));
        }
      }
    }
    for (Path f : files(output.resolve(SftPipeline.DROPPED_DIR), ".jsonl")) {
      for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
        if (!line.isBlank()) {
          data.droppedReasons.merge(JSON.readTree(line).path("reason").asText("?"), 1L, Long::sum);
        }
      }
    }
    return data;
  }

  private static List<Path> files(Path dir, String suffix) throws IOException {
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().endsWith(suffix)).sorted().toList();
    }
  }

  /** Every nested record of schema {@code Call}, wherever the lineage keeps it. */
  private static void collectCalls(Object value, List<GenericRecord> calls) {
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
    r.put("role", c.path("role").asText());
    r.put("ok", c.path("ok").asBoolean());
    r.put("content", c.path("content").isTextual() ? c.path("content").asText() : null);
    r.put("prompt_tokens", c.path("prompt_tokens").asLong());
    r.put("completion_tokens", c.path("completion_tokens").asLong());
    r.put("attempts", c.path("attempts").asInt());
    r.put("latency_ms", c.path("latency_ms").asLong());
    r.put("error_kind", c.path("error_kind").isTextual() ? c.path("error_kind").asText() : null);
    r.put("cached", c.path("cached").asBoolean());
    return r;
  }

  private static String str(IndexedRecord r, String field) {
    Object v = ((GenericRecord) r).get(field);
    return v == null ? null : v.toString();
  }

  private static long num(GenericRecord r, String field) {
    Object v = r.get(field);
    return v instanceof Number n ? n.longValue() : 0;
  }

  private static boolean flag(GenericRecord r, String field) {
    return Boolean.TRUE.equals(r.get(field));
  }

  // ---- sections shared by both commands ----

  private static List<Section> commonSections(RunData d, MoaaConfig config) {
    List<Section> out = new ArrayList<>();
    Map<String, long[]> perModel = new TreeMap<>();
    Map<String, List<Long>> latency = new TreeMap<>();
    Map<String, Map<String, Long>> failuresByKind = new TreeMap<>();
    Map<String, Map<String, Long>> tokens = new TreeMap<>();
    Map<String, Map<String, Double>> cost = new TreeMap<>();
    for (GenericRecord c : d.calls) {
      String model = str(c, "model");
      String role = str(c, "role");
      long[] s = perModel.computeIfAbsent(model, m -> new long[4]);
      if (flag(c, "cached")) {
        s[1]++;
        continue;
      }
      s[0]++;
      s[3] += Math.max(0, num(c, "attempts") - 1);
      if (!flag(c, "ok")) {
        s[2]++;
        failuresByKind.computeIfAbsent(model, m -> new TreeMap<>())
            .merge(String.valueOf(str(c, "error_kind")), 1L, Long::sum);
        continue;
      }
      latency.computeIfAbsent(model, m -> new ArrayList<>()).add(num(c, "latency_ms"));
      long in = num(c, "prompt_tokens");
      long outTokens = num(c, "completion_tokens");
      tokens.computeIfAbsent(role, r -> new TreeMap<>()).merge(model, in + outTokens, Long::sum);
      ModelEndpoint m = config.models().get(model);
      cost.computeIfAbsent(role, r -> new TreeMap<>()).merge(model, m == null ? 0 : m.costUsd(in, outTokens), Double::sum);
    }
    List<String> models = new ArrayList<>(perModel.keySet());

    CategoryChart calls = bars("Calls per model", "model", "calls");
    if (!models.isEmpty()) {
      calls.addSeries("paid, answered", models, models.stream().map(m -> perModel.get(m)[0] - perModel.get(m)[2]).toList());
      calls.addSeries("from the cache", models, models.stream().map(m -> perModel.get(m)[1]).toList());
      calls.addSeries("failed after retries", models, models.stream().map(m -> perModel.get(m)[2]).toList());
    }
    out.add(section("calls", "Calls per model", "Every call of the run, by how it ended.", calls, !models.isEmpty()));

    CategoryChart lat = bars("Latency percentiles per model (paid, answered calls)", "model", "milliseconds");
    List<String> latModels = new ArrayList<>(latency.keySet());
    for (double q : new double[] {0.5, 0.9, 0.99}) {
      if (!latModels.isEmpty()) {
        lat.addSeries("p" + Math.round(q * 100), latModels, latModels.stream().map(m -> percentile(latency.get(m), q)).toList());
      }
    }
    out.add(section("latency", "Latency percentiles per model", "p50, p90 and p99 of the time to an answer, retries included.",
        lat, !latModels.isEmpty()));

    CategoryChart retries = bars("Retried attempts (429 and other retryable errors) and final failures", "model", "count");
    if (!models.isEmpty()) {
      retries.addSeries("retried attempts", models, models.stream().map(m -> perModel.get(m)[3]).toList());
      for (String kind : failuresByKind.values().stream().flatMap(k -> k.keySet().stream()).distinct().sorted().toList()) {
        retries.addSeries("failed: " + kind, models, models.stream()
            .map(m -> failuresByKind.getOrDefault(m, Map.of()).getOrDefault(kind, 0L)).toList());
      }
    }
    out.add(section("retries", "429s, retries and failures per model",
        "Retried attempts (the endpoint answered 429, 5xx or timed out) and calls that failed for good, by kind.",
        retries, !models.isEmpty()));

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

  private static List<Section> sftSections(RunData d, MoaaConfig config) {
    List<Section> out = commonSections(d, config);
    List<Long> proposals = new ArrayList<>();
    List<Long> aggregated = new ArrayList<>();
    for (GenericRecord c : d.calls) {
      String content = str(c, "content");
      if (!flag(c, "ok") || content == null) {
        continue;
      }
      long words = words(content);
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
    out.add(2, section("lengths", "Proposals vs aggregated answers",
        "Words per answer, as a share of each group.", len, any));
    out.add(reasons("dropped", "Rows dropped and why", "reason", d.droppedReasons,
        "Rows removed before any call: duplicates and benchmark contamination."));
    return out;
  }

  private static List<Section> dpoSections(RunData d, MoaaConfig config) {
    List<Section> out = commonSections(d, config);
    List<Double> margins = new ArrayList<>();
    long consistent = 0;
    long inconsistent = 0;
    long agree = 0;
    long disagree = 0;
    for (GenericRecord row : d.rows) {
      Object sc = row.get("score_chosen");
      Object sr = row.get("score_rejected");
      if (sc instanceof Number a && sr instanceof Number b) {
        margins.add(a.doubleValue() - b.doubleValue());
      }
      Object pairs = row.get("pairs");
      if (pairs instanceof Collection<?> ps) {
        for (Object p : ps) {
          GenericRecord pair = (GenericRecord) p;
          if (flag(pair, "consistent")) {
            consistent++;
          } else {
            inconsistent++;
          }
          for (String order : List.of("ab", "ba")) {
            GenericRecord j = (GenericRecord) pair.get(order);
            String verdict = j == null ? null : str(j, "verdict");
            if (verdict == null || !(j.get("votes") instanceof Collection<?> votes)) {
              continue;
            }
            for (Object v : votes) {
              if (verdict.equals(str((GenericRecord) v, "verdict"))) {
                agree++;
              } else {
                disagree++;
              }
            }
          }
        }
      }
    }
    CategoryChart m = bars("Score margin (chosen - rejected)", "margin", "preference pairs");
    if (!margins.isEmpty()) {
      double max = margins.stream().mapToDouble(Double::doubleValue).max().orElse(1);
      int n = 10;
      double step = Math.max(max, 1e-9) / n;
      List<String> labels = new ArrayList<>();
      List<Long> counts = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        labels.add(String.format(Locale.ROOT, "%.2f", step * i));
        counts.add(0L);
      }
      for (double v : margins) {
        int i = Math.min(n - 1, (int) Math.floor(v / step));
        counts.set(Math.max(0, i), counts.get(Math.max(0, i)) + 1);
      }
      m.addSeries("pairs", labels, counts);
    }
    out.add(section("margins", "Score margins", "Distance between the chosen and the rejected answer's scores.",
        m, !margins.isEmpty()));

    CategoryChart judges = bars("Judges: agreement and position consistency", "", "judged pairs / votes");
    boolean anyPairs = consistent + inconsistent > 0;
    if (anyPairs) {
      judges.addSeries("yes", List.of("same winner in both orders", "judge vote = final verdict"), List.of(consistent, agree));
      judges.addSeries("no", List.of("same winner in both orders", "judge vote = final verdict"), List.of(inconsistent, disagree));
    }
    out.add(section("judges", "Judge agreement and position consistency",
        "Pairs whose winner held when the order was swapped; judge votes that matched the verdict.", judges, anyPairs));
    out.add(reasons("dropped", "Prompts dropped and why", "reason", d.droppedReasons,
        "Prompts without a preference pair: no clear margin, duplicates, contamination."));
    return out;
  }

  // ---- chart helpers ----

  private static CategoryChart bars(String title, String x, String y) {
    CategoryChart c = new CategoryChartBuilder().width(WIDTH).height(HEIGHT).title(title).xAxisTitle(x).yAxisTitle(y).build();
    c.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
    c.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
    c.getStyler().setXAxisLabelRotation(0);
    return c;
  }

  private static Section reasons(String id, String title, String x, Map<String, Long> counts, String caption) {
    CategoryChart c = bars(title, x, "rows");
    if (!counts.isEmpty()) {
      c.addSeries("rows", new ArrayList<>(counts.keySet()), new ArrayList<>(counts.values()));
    }
    return section(id, title, caption, c, !counts.isEmpty());
  }

  private static Section section(String id, String title, String caption, CategoryChart chart, boolean hasData) {
    if (!hasData) {
      return new Section(id, title, caption, null);
    }
    try {
      return new Section(id, title, caption, BitmapEncoder.getBitmapBytes(chart, BitmapEncoder.BitmapFormat.PNG));
    } catch (IOException e) {
      throw new IllegalStateException("cannot render the chart " + id + ": " + e.getMessage(), e);
    }
  }

  static long percentile(List<Long> values, double q) {
    List<Long> sorted = values.stream().sorted().toList();
    int i = (int) Math.ceil(q * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, i)));
  }

  private static long words(String s) {
    String t = s.strip();
    return t.isEmpty() ? 0 : t.split("\\s+").length;
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
        + " and the dead letters; the charts are per model and stage, not over time.</p>\n</body></html>\n");
    return b.toString();
  }

  private static void row(StringBuilder b, String name, String value) {
    b.append("<tr><th>").append(esc(name)).append("</th><td>").append(esc(value)).append("</td></tr>");
  }

  private static String esc(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
  }
}

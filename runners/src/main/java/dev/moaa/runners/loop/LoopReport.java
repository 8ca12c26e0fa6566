package dev.moaa.runners.loop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The loop's own summary when it has several rounds, read from each round's files: {@code
 * loop-summary.json} with one row per round (rows written and dropped by the SFT and DPO data, calls
 * and cost per model, the training losses, the head-to-head figures) and {@code loop-report.html}, the
 * same as a page with a chart of each round's win rates and their intervals.
 */
final class LoopReport {
  static final String SUMMARY = "loop-summary.json";
  static final String REPORT = "loop-report.html";
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private LoopReport() {}

  static void write(Path output, LoopCommand.Plan plan, List<LoopCommand.Round> rounds, PrintStream out) {
    ObjectNode root = JSON.createObjectNode();
    root.put("config", plan.configFile().toString());
    root.put("rounds_run", rounds.size());
    root.putPOJO("join_as", plan.joinAs());
    root.put("train_from", plan.trainFromPrevious() ? "previous" : "base");
    ArrayNode rows = root.putArray("rounds");
    for (LoopCommand.Round r : rounds) {
      rows.add(row(r));
    }
    try {
      Files.writeString(output.resolve(SUMMARY), JSON.writeValueAsString(root) + "\n", StandardCharsets.UTF_8);
      Files.writeString(output.resolve(REPORT), html(root), StandardCharsets.UTF_8);
    } catch (IOException e) {
      out.println("  (the loop report could not be written: " + e.getMessage() + ")");
      return;
    }
    for (JsonNode row : rows) {
      out.printf(Locale.ROOT, "  round %d: SFT rows %d, DPO rows %d, cost $%.4f, SFT loss %s, DPO loss %s%s%n",
          row.path("round").asInt(), row.at("/sft/written").asLong(), row.at("/dpo/written").asLong(),
          row.path("cost_usd").asDouble(), row.at("/sft/final_loss").asText("-"), row.at("/dpo/final_loss").asText("-"),
          winRates(row));
    }
    out.println("  loop summary: " + output.resolve(SUMMARY));
    out.println("  loop report:  " + output.resolve(REPORT));
  }

  private static String winRates(JsonNode row) {
    StringBuilder b = new StringBuilder();
    row.path("head_to_head").fields().forEachRemaining(e -> b.append(String.format(Locale.ROOT,
        "; against %s %.2f (%.2f-%.2f)", e.getKey(), e.getValue().path("win_rate").asDouble(),
        e.getValue().path("ci95_low").asDouble(), e.getValue().path("ci95_high").asDouble())));
    return b.toString();
  }

  private static ObjectNode row(LoopCommand.Round r) {
    ObjectNode n = JSON.createObjectNode();
    n.put("round", r.number());
    n.put("folder", r.dir().toString());
    n.put("sft_checkpoint", r.sftCheckpoint());
    n.put("dpo_checkpoint", r.dpoCheckpoint());
    double cost = 0;
    ObjectNode calls = n.putObject("calls");
    ObjectNode costs = n.putObject("cost_per_model");
    for (String stage : List.of("sft", "dpo")) {
      ObjectNode s = n.putObject(stage);
      JsonNode m = read(r.dir().resolve(stage + "-data").resolve("manifest.json"));
      s.put("read", m.at("/counts/read").asLong());
      s.put("written", m.at("/counts/written").asLong());
      s.put("dead_lettered", m.at("/counts/dead_lettered").asLong());
      s.put("dropped", m.at("/counts/dropped").asLong());
      var fields = m.path("models").fields();
      while (fields.hasNext()) {
        var e = fields.next();
        calls.put(e.getKey(), calls.path(e.getKey()).asLong() + e.getValue().path("calls").asLong());
        double c = e.getValue().path("estimated_cost_usd").asDouble();
        costs.put(e.getKey(), costs.path(e.getKey()).asDouble() + c);
        cost += c;
      }
      JsonNode t = read(r.dir().resolve(stage + "-model").resolve("training_complete.json"));
      if (t.has("final_loss")) {
        s.put("final_loss", t.path("final_loss").asDouble());
      }
    }
    n.put("cost_usd", cost);
    ObjectNode h = n.putObject("head_to_head");
    Path dir = r.dir().resolve("head-to-head");
    if (Files.isDirectory(dir)) {
      try (var list = Files.list(dir)) {
        for (Path vs : list.sorted().toList()) {
          JsonNode c = read(vs.resolve("compare.json"));
          if (c.has("head_to_head")) {
            ObjectNode x = (ObjectNode) c.get("head_to_head").deepCopy();
            x.put("position_consistency", c.path("position_consistency").asDouble());
            h.set(vs.getFileName().toString().substring("vs-".length()), x);
          }
        }
      } catch (IOException e) {
        // a round without readable comparisons has none in its row
      }
    }
    return n;
  }

  private static JsonNode read(Path file) {
    try {
      return Files.isRegularFile(file) ? JSON.readTree(file.toFile()) : JSON.createObjectNode();
    } catch (IOException e) {
      return JSON.createObjectNode();
    }
  }

  private static String html(ObjectNode root) {
    StringBuilder t = new StringBuilder();
    StringBuilder svg = new StringBuilder();
    int bar = 0;
    for (JsonNode row : root.path("rounds")) {
      t.append("<tr><td>").append(row.path("round").asInt()).append("</td><td>")
          .append(row.at("/sft/written").asLong()).append(" / ").append(row.at("/sft/dropped").asLong()).append("</td><td>")
          .append(row.at("/dpo/written").asLong()).append(" / ").append(row.at("/dpo/dropped").asLong()).append("</td><td>")
          .append(String.format(Locale.ROOT, "$%.4f", row.path("cost_usd").asDouble())).append("</td><td>")
          .append(row.at("/sft/final_loss").asText("-")).append("</td><td>")
          .append(row.at("/dpo/final_loss").asText("-")).append("</td><td>")
          .append(escape(winRates(row).replaceFirst("^; ", ""))).append("</td></tr>\n");
      var it = row.path("head_to_head").fields();
      while (it.hasNext()) {
        var e = it.next();
        double w = e.getValue().path("win_rate").asDouble();
        double lo = e.getValue().path("ci95_low").asDouble();
        double hi = e.getValue().path("ci95_high").asDouble();
        int y = 20 + bar * 28;
        svg.append(String.format(Locale.ROOT,
            "<text x='4' y='%d' font-size='12'>round %d vs %s</text><rect x='160' y='%d' width='%.1f' height='16' fill='#4a7bd0'/>"
                + "<line x1='%.1f' x2='%.1f' y1='%d' y2='%d' stroke='black' stroke-width='2'/>"
                + "<text x='%.1f' y='%d' font-size='11'>%.2f</text>%n",
            y + 12, row.path("round").asInt(), escape(e.getKey()), y, 400 * w, 160 + 400 * lo, 160 + 400 * hi, y + 8,
            y + 8, 165 + 400 * hi, y + 12, w));
        bar++;
      }
    }
    int height = 30 + bar * 28;
    return "<!doctype html>\n<html><head><meta charset='utf-8'><title>MoAA loop report</title>"
        + "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;border-bottom:1px solid #ddd}</style>"
        + "</head><body>\n<h1>MoAA loop: " + root.path("rounds_run").asInt() + " rounds</h1>\n"
        + "<p>Each round's model joined the next round's mixture as " + escape(root.path("join_as").toString())
        + "; rounds trained from " + escape(root.path("train_from").asText()) + ". A win rate counts a tie or a"
        + " verdict that flips with the order as half; the line is its 95% interval, the dashed line 0.5.</p>\n"
        + "<table><tr><th>round</th><th>SFT rows written / dropped</th><th>DPO rows written / dropped</th>"
        + "<th>cost</th><th>SFT loss</th><th>DPO loss</th><th>head to head</th></tr>\n" + t + "</table>\n"
        + "<h2>Win rates</h2>\n<svg width='640' height='" + height + "' xmlns='http://www.w3.org/2000/svg'>\n" + svg
        + "<line x1='360' x2='360' y1='0' y2='" + height + "' stroke='#888' stroke-dasharray='4 3'/>\n</svg>\n"
        + "</body></html>\n";
  }

  private static String escape(String s) {
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&#39;");
  }
}

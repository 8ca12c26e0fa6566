package dev.moaa.pipelines.report;

import dev.moaa.pipelines.MoaaConfig;
import dev.moaa.pipelines.RunFiles;
import dev.moaa.pipelines.RunKind;
import dev.moaa.pipelines.SftPipeline;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import dev.moaa.transforms.client.ModelEndpoint;
import java.io.BufferedReader;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import dev.moaa.transforms.io.StoragePath;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.apache.avro.LogicalType;
import org.apache.avro.LogicalTypes;
import org.apache.avro.Schema;

/**
 * The {@code README.md} a run writes beside its shards: a Hugging Face dataset card, so the output
 * folder can be pushed to the Hub as it is and loaded with {@code datasets.load_dataset}.
 *
 * <p>The YAML header names one config whose {@code train} split is the Parquet shards, and
 * describes their columns as Hugging Face features derived from the shards' own Avro schema (so
 * the card follows any schema change). The body says how the data was made: models (names, model
 * ids and the endpoints' host only), topology, prompt template versions, the reconciled counts
 * with the reasons of dead letters and dropped rows, tokens and estimated cost per model, the
 * config hash and the run's dates. Everything comes from the config and the run manifest; neither
 * holds a key, and no URL path or query is copied (hosts only).
 */
public final class DatasetCard {
  /** The card's file name in the output folder. */
  public static final String FILE = RunFiles.CARD;
  /** A comment in every card this product writes; a README.md without it is the user's and is left alone. */
  static final String MARK = RunFiles.CARD_MARK;
  /** Where the card goes when the folder already holds a README.md that is not a MoAA card. */
  public static final String FALLBACK_FILE = RunFiles.CARD_FALLBACK;

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory()
      .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER)
      .enable(YAMLGenerator.Feature.MINIMIZE_QUOTES)
      .enable(YAMLGenerator.Feature.ALWAYS_QUOTE_NUMBERS_AS_STRINGS));
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  private DatasetCard() {}

  /**
   * Writes the card of a finished run into {@code output} and returns its path: {@code README.md},
   * or {@link #FALLBACK_FILE} when a README.md that this product did not write is already there.
   */
  public static StoragePath write(RunKind kind, MoaaConfig config, ObjectNode manifest, StoragePath output)
      throws IOException {
    StoragePath file = output.resolve(FILE);
    if (file.exists() && !isOurs(file)) {
      file = output.resolve(FALLBACK_FILE);
    }
    file.writeString(render(kind, config, manifest, droppedReasons(output.resolve(SftPipeline.DROPPED_DIR)),
        parquetBytes(output.resolve(kind.shardDir()).resolve("parquet"))));
    return file;
  }

  /** True when {@code file} is a card this product wrote (and may replace or remove). */
  public static boolean isOurs(StoragePath file) {
    return RunFiles.isOurCard(file);
  }

  /** The card's text. {@code dropped} counts dropped rows per reason; {@code parquetBytes} is the shards' size. */
  static String render(RunKind kind, MoaaConfig config, JsonNode manifest, Map<String, Long> dropped, long parquetBytes) {
    String name = kind.command();
    String glob = kind.shardDir() + "/parquet/*.parquet";
    long written = manifest.path("counts").path("written").asLong();
    StringBuilder md = new StringBuilder();
    md.append("---\n").append(header(kind, config, written, parquetBytes)).append("---\n");
    md.append(MARK).append("\n\n");

    String title = switch (name) {
      case "sft" -> "MoAA SFT data";
      case "dpo" -> "MoAA DPO preference data";
      default -> "MoAA " + name + " data";
    };
    md.append("# ").append(title).append("\n\n");
    md.append(summary(kind, manifest, written)).append("\n\n");

    md.append("## How the data was made\n\n");
    md.append("### Models\n\n");
    md.append("| name | model id | endpoint host | role |\n|---|---|---|---|\n");
    kind.modelRoles(config).forEach((model, roles) -> {
      ModelEndpoint m = config.models().get(model);
      md.append("| ").append(cell(model)).append(" | ").append(cell(m == null ? "?" : m.modelId()))
          .append(" | ").append(cell(m == null ? "?" : host(m.baseUrl()))).append(" | ")
          .append(cell(String.join(", ", roles))).append(" |\n");
    });
    md.append("\nSampling parameters of every model are in the run's config (hash below); API keys are read from"
        + " environment variables or key files named there, and appear nowhere in this folder.\n\n");

    md.append("### Topology\n\n");
    JsonNode topology = plainTree(manifest.path("topology"));
    for (Iterator<Map.Entry<String, JsonNode>> it = topology.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!e.getKey().equals("templates")) {
        md.append("- ").append(e.getKey().replace('_', ' ')).append(": ").append(plain(e.getValue())).append('\n');
      }
    }
    md.append("\n### Prompt templates\n\n");
    JsonNode templates = topology.path("templates");
    if (templates.isObject()) {
      templates.fields().forEachRemaining(e -> md.append("- ").append(e.getKey()).append(": `")
          .append(e.getValue().asText()).append("`\n"));
    } else {
      templates.forEach(t -> md.append("- `").append(t.asText()).append("`\n"));
    }
    md.append('\n');

    md.append("### Counts\n\n");
    JsonNode c = manifest.path("counts");
    md.append(String.format(Locale.ROOT, "| read | written | dead-lettered | dropped | reconciled |%n|---:|---:|---:|---:|---|%n"
        + "| %d | %d | %d | %d | %s |%n%n", c.path("read").asLong(), written, c.path("dead_lettered").asLong(),
        c.path("dropped").asLong(), c.path("reconciled").asBoolean() ? "yes" : "NO"));
    md.append("Every input row is accounted for: read = written + dead-lettered + dropped. Dead letters (rows that"
        + " could not be processed, with the failed request) are in `" + SftPipeline.DEAD_LETTER_DIR + "/`, dropped"
        + " rows (duplicates, benchmark contamination) with what they matched in `" + SftPipeline.DROPPED_DIR + "/`.\n\n");
    JsonNode reasons = c.path("dead_letter_reasons");
    if (reasons.size() > 0) {
      md.append("| dead-letter reason | rows |\n|---|---:|\n");
      reasons.fields().forEachRemaining(e -> md.append("| ").append(cell(e.getKey())).append(" | ")
          .append(e.getValue().asLong()).append(" |\n"));
      md.append('\n');
    }
    if (!dropped.isEmpty()) {
      md.append("| drop reason | rows |\n|---|---:|\n");
      dropped.forEach((r, n) -> md.append("| ").append(cell(r)).append(" | ").append(n).append(" |\n"));
      md.append('\n');
    }

    md.append("### Tokens and cost\n\n");
    md.append("| model | calls | from cache | prompt tokens | completion tokens | estimated cost (USD) |\n"
        + "|---|---:|---:|---:|---:|---:|\n");
    manifest.path("models").fields().forEachRemaining(e -> {
      JsonNode u = e.getValue();
      md.append(String.format(Locale.ROOT, "| %s | %d | %d | %d | %d | %.4f |%n", cell(e.getKey()),
          u.path("calls").asLong(), u.path("cache_hits").asLong(), u.path("prompt_tokens").asLong(),
          u.path("completion_tokens").asLong(), u.path("estimated_cost_usd").asDouble()));
    });
    JsonNode totals = manifest.path("totals");
    md.append(String.format(Locale.ROOT, "| **total** | | %d | %d | %d | %.4f |%n%n",
        totals.path("cache_hits").asLong(), totals.path("prompt_tokens").asLong(),
        totals.path("completion_tokens").asLong(), totals.path("estimated_cost_usd").asDouble()));
    md.append("Costs are estimates from the prices in the config, for the calls this run paid for; answers taken"
        + " from the response cache were paid for by an earlier run.\n\n");

    md.append("### Provenance\n\n");
    md.append("- config hash (SHA-256): `").append(manifest.path("config_hash").asText()).append("`\n");
    md.append("- run started: ").append(manifest.path("timings").path("started_at").asText())
        .append(", finished: ").append(manifest.path("timings").path("finished_at").asText()).append('\n');
    md.append("- runner: ").append(manifest.path("runner").asText()).append(", state ")
        .append(manifest.path("state").asText()).append(manifest.path("complete").asBoolean() ? ", complete" : ", NOT complete")
        .append('\n');
    md.append("- input format: ").append(manifest.path("input_format").asText()).append("; the full record is in `manifest.json`\n\n");

    md.append("## Columns\n\n");
    md.append("| column | type | description |\n|---|---|---|\n");
    for (Schema.Field f : kind.shardSchema().getFields()) {
      md.append("| `").append(f.name()).append("` | `").append(cell(typeName(f.schema()))).append("` | ")
          .append(cell(f.doc() == null ? "" : f.doc())).append(" |\n");
    }
    md.append('\n');

    md.append("## Usage\n\n");
    md.append("```python\nfrom datasets import load_dataset\n\n");
    md.append("# this folder, on disk\nds = load_dataset(\"parquet\", data_files={\"train\": \"").append(glob)
        .append("\"}, split=\"train\")\n");
    md.append("# or, once pushed to the Hub\n# ds = load_dataset(\"YOUR_ORG/YOUR_DATASET\", \"").append(name)
        .append("\", split=\"train\")\n\n");
    if (name.equals("dpo")) {
      md.append("from trl import DPOConfig, DPOTrainer\n");
      md.append("# prompt / chosen / rejected are lists of {role, content} messages, TRL's conversational layout\n");
      md.append("trainer = DPOTrainer(model=\"PATH_OR_ID_OF_THE_SFT_MODEL\", args=DPOConfig(output_dir=\"dpo\"),"
          + " train_dataset=ds)\n");
    } else {
      md.append("from trl import SFTConfig, SFTTrainer\n");
      md.append("# `messages` is a list of {role, content} messages, TRL's conversational layout\n");
      md.append("trainer = SFTTrainer(model=\"PATH_OR_ID_OF_THE_BASE_MODEL\", args=SFTConfig(output_dir=\"sft\"),"
          + " train_dataset=ds)\n");
    }
    md.append("trainer.train()\n```\n\n");
    md.append("Extra lineage columns are ignored by the trainers; drop them with `ds.select_columns(...)` to save memory.\n\n");

    md.append("## Limitations\n\n");
    md.append("The answers were written by language models and were not reviewed by people. Check the terms of use of"
        + " every model listed above before using or sharing the data.\n");
    return md.toString();
  }

  private static String summary(RunKind kind, JsonNode manifest, long written) {
    String what = kind.command().equals("dpo")
        ? "preference pairs (`prompt`, `chosen`, `rejected`) labelled by a mixture of LLM judges"
        : "conversations whose assistant turns were written by Mixture-of-Agents: several proposer models answered"
            + " each turn and an aggregator model combined their answers into one";
    return "Synthetic " + what + ", made by MoAA-Beam (Mixture-of-Agents Alignment, Wang et al., ICML 2025, on"
        + " Apache Beam). " + written + " rows in the `train` split, stored as Parquet shards in `"
        + kind.shardDir() + "/parquet/` (the same rows as Avro in `" + kind.shardDir() + "/avro/`).";
  }

  /** The YAML front matter (without its {@code ---} fences). */
  static String header(RunKind kind, MoaaConfig config, long written, long parquetBytes) {
    ObjectNode h = NODES.objectNode();
    h.put("license", config.cardLicense());
    if (config.cardPrettyName() != null) {
      h.put("pretty_name", config.cardPrettyName());
    }
    h.putArray("task_categories").add("text-generation");
    h.putArray("language").add("en");
    ArrayNode tags = h.putArray("tags");
    tags.add("moaa").add("synthetic").add(kind.command()).add("mixture-of-agents");
    h.putArray("size_categories").add(sizeCategory(written));
    ObjectNode cfg = h.putArray("configs").addObject();
    cfg.put("config_name", kind.command());
    cfg.put("default", true);
    ObjectNode files = cfg.putArray("data_files").addObject();
    files.put("split", "train");
    files.put("path", kind.shardDir() + "/parquet/*.parquet");
    ObjectNode info = h.putObject("dataset_info");
    info.put("config_name", kind.command());
    info.set("features", features(kind.shardSchema()));
    ObjectNode split = info.putArray("splits").addObject();
    split.put("name", "train");
    split.put("num_examples", written);
    info.put("download_size", parquetBytes);
    try {
      return YAML.writeValueAsString(h);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The Hugging Face {@code features} list of a record schema, in the layout of the card's YAML
   * ({@code datasets.Features._to_yaml_list}): {@code {name, dtype}} for a value, {@code {name,
   * list: …}} for an array and {@code {name, struct: […]}} for a record.
   */
  public static ArrayNode features(Schema record) {
    if (record.getType() != Schema.Type.RECORD) {
      throw new IllegalArgumentException("features are made from a record schema, got " + record.getType());
    }
    ArrayNode out = NODES.arrayNode();
    for (Schema.Field f : record.getFields()) {
      ObjectNode n = out.addObject();
      n.put("name", f.name());
      n.setAll(feature(f.schema(), f.name()));
    }
    return out;
  }

  /** One feature without its name: {@code {dtype}}, {@code {list}} or {@code {struct}}. */
  private static ObjectNode feature(Schema s, String path) {
    Schema t = nonNull(s, path);
    ObjectNode n = NODES.objectNode();
    switch (t.getType()) {
      case RECORD -> n.set("struct", features(t));
      case ARRAY -> {
        ObjectNode item = feature(t.getElementType(), path + "[]");
        // the simplified forms datasets writes: `list: string` and `list: [fields]`
        if (item.size() == 1 && item.has("dtype")) {
          n.set("list", item.get("dtype"));
        } else if (item.size() == 1 && item.has("struct")) {
          n.set("list", item.get("struct"));
        } else {
          n.set("list", item);
        }
      }
      default -> n.put("dtype", dtype(t, path));
    }
    return n;
  }

  /** The Arrow/Hugging Face value type of an Avro primitive (logical types included). */
  static String dtype(Schema t, String path) {
    LogicalType logical = t.getLogicalType();
    if (logical instanceof LogicalTypes.TimestampMillis) {
      return "timestamp[ms, tz=UTC]";
    }
    if (logical instanceof LogicalTypes.TimestampMicros) {
      return "timestamp[us, tz=UTC]";
    }
    if (logical instanceof LogicalTypes.Date) {
      return "date32";
    }
    return switch (t.getType()) {
      case STRING, ENUM -> "string";
      case LONG -> "int64";
      case INT -> "int32";
      case DOUBLE -> "float64";
      case FLOAT -> "float32";
      case BOOLEAN -> "bool";
      case BYTES, FIXED -> "binary";
      default -> throw new IllegalArgumentException("column " + path + ": no Hugging Face feature for Avro " + t.getType());
    };
  }

  /** The non-null branch of an optional field; every Hugging Face feature may hold nulls. */
  private static Schema nonNull(Schema s, String path) {
    if (s.getType() != Schema.Type.UNION) {
      return s;
    }
    List<Schema> branches = s.getTypes().stream().filter(b -> b.getType() != Schema.Type.NULL).toList();
    if (branches.size() != 1) {
      throw new IllegalArgumentException("column " + path + ": a union of " + branches.size()
          + " non-null types has no Hugging Face feature");
    }
    return branches.get(0);
  }

  /** A short, readable type for the columns table: {@code list<struct<role: string, content: string>>}. */
  static String typeName(Schema s) {
    Schema t = nonNull(s, "");
    String base = switch (t.getType()) {
      case ARRAY -> "list<" + typeName(t.getElementType()) + ">";
      case RECORD -> t.getFields().size() <= 3
          ? "struct<" + String.join(", ", t.getFields().stream().map(f -> f.name() + ": " + typeName(f.schema())).toList()) + ">"
          : "struct " + t.getName();
      default -> dtype(t, "");
    };
    return s.getType() == Schema.Type.UNION ? base + " (nullable)" : base;
  }

  static String sizeCategory(long n) {
    if (n < 1_000) {
      return "n<1K";
    }
    if (n < 10_000) {
      return "1K<n<10K";
    }
    if (n < 100_000) {
      return "10K<n<100K";
    }
    if (n < 1_000_000) {
      return "100K<n<1M";
    }
    if (n < 10_000_000) {
      return "1M<n<10M";
    }
    return "10M<n<100M";
  }

  /** The host of an endpoint URL, never its path, query or user info. */
  static String host(String baseUrl) {
    try {
      String h = URI.create(baseUrl).getHost();
      return h == null ? "?" : h;
    } catch (IllegalArgumentException e) {
      return "?";
    }
  }

  /** Dropped rows per reason, read from the run's dropped-row files. */
  static Map<String, Long> droppedReasons(StoragePath dir) throws IOException {
    Map<String, Long> out = new TreeMap<>();
    for (StoragePath f : dir.files(".jsonl")) {
      try (BufferedReader r = new BufferedReader(new java.io.InputStreamReader(f.open(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          if (!line.isBlank()) {
            out.merge(JSON.readTree(line).path("reason").asText("unknown"), 1L, Long::sum);
          }
        }
      }
    }
    return out;
  }

  private static long parquetBytes(StoragePath dir) throws IOException {
    long total = 0;
    for (StoragePath f : dir.files(".parquet")) {
      total += f.size();
    }
    return total;
  }

  /** The same tree with embedded Java values (the manifest holds some lists as POJOs) turned into JSON nodes. */
  private static JsonNode plainTree(JsonNode n) {
    try {
      return JSON.readTree(JSON.writeValueAsString(n));
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String plain(JsonNode v) {
    if (v.isArray()) {
      List<String> parts = new ArrayList<>();
      v.forEach(x -> parts.add(x.asText()));
      return String.join(", ", parts);
    }
    return v.isNull() ? "none" : v.asText();
  }

  /** Text safe inside a Markdown table cell. */
  private static String cell(String s) {
    return s.replace("|", "\\|").replace("\r", " ").replace("\n", " ");
  }
}

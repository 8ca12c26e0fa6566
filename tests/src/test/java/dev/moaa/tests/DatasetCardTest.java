package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.moaa.runners.sim.SimulatedEndpoint;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.stream.Stream;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.schema.GroupType;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType;
import org.apache.parquet.schema.Type;
import org.junit.jupiter.api.Test;

/**
 * The dataset card ({@code README.md}) of real {@code moaa sft} and {@code moaa dpo} runs against the
 * simulated endpoint: its YAML header parses, its features match the schema of the Parquet shards
 * as written on disk (read from a shard's footer, not from the Avro classes the card is made from),
 * its split size equals the rows written, and neither the API key nor an endpoint URL is in it.
 */
class DatasetCardTest {
  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

  @Test
  void givenAnSftRun_theCardDescribesTheShardsAndHowTheyWereMade() throws Exception {
    String key = "sk-card-" + UUID.randomUUID().toString().replace("-", "");
    Path work = Fixtures.workDir("card-sft");
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults()
        .withLatencyMs(2).withRequiredApiKey(key))) {
      Path keyFile = work.resolve("key.txt");
      Files.writeString(keyFile, key + "\n");
      Files.createDirectories(work.resolve("in"));
      StringBuilder rows = new StringBuilder();
      for (int i = 0; i < 12; i++) {
        rows.append("{\"id\":\"c-").append(i).append("\",\"prompt\":\"Card test ").append(i)
            .append(i == 5 ? " SIM_ALWAYS_FAIL" : "").append(": how do you size a Parquet row group?\"}\n");
      }
      rows.append("{\"id\":\"c-3\",\"prompt\":\"the same id again\"}\n");
      // an MT-Bench prompt, verbatim: dropped as benchmark contamination
      rows.append("{\"id\":\"c-bench\",\"prompt\":\"Compose an engaging travel blog post about a recent trip to Hawaii,"
          + " highlighting cultural experiences and must-see attractions.\"}\n");
      rows.append("{broken json\n");
      Files.writeString(work.resolve("in/rows.jsonl"), rows);
      Files.writeString(work.resolve("config.yaml"), Fixtures.config(sim.baseUrl(), 2, 1, 1,
              "  api_key_file: " + keyFile + "\n")
          .replace("output: {shards: 2}", "output: {shards: 2, license: apache-2.0, pretty_name: Card test}"));

      Fixtures.Run run = Fixtures.moaa("sft", "--config=" + work.resolve("config.yaml"),
          "--input=" + work.resolve("in/rows.jsonl"), "--output=" + work.resolve("out"));
      assertEquals(0, run.code(), run.err());
      assertTrue(sim.requests().stream().allMatch(r -> r.authorized()), "the key was sent with every request");

      Path out = work.resolve("out");
      JsonNode manifest = Fixtures.manifest(out);
      Fixtures.assertReconciles(manifest, 15, 11, 2, 2);
      String card = Files.readString(out.resolve("README.md"), StandardCharsets.UTF_8);
      assertTrue(run.out().contains("dataset card: " + out.resolve("README.md")), run.out());
      JsonNode header = header(card);

      assertEquals("apache-2.0", header.path("license").asText());
      assertEquals("Card test", header.path("pretty_name").asText());
      assertEquals("text-generation", header.path("task_categories").get(0).asText());
      assertTrue(textsOf(header.path("tags")).containsAll(List.of("moaa", "synthetic", "sft")), header.path("tags").toString());
      assertHeaderMatchesShards(header, out, "sft", Fixtures.readParquet(out.resolve("sft/parquet")).size(), 11);

      assertFalse(card.contains(key), "the API key is in the card");
      assertFalse(card.contains(sim.baseUrl()), "an endpoint URL (not only its host) is in the card");
      assertFalse(card.contains(keyFile.toString()), "the key file's path is in the card");
      for (String s : List.of("sim-proposer-1", "sim-proposer-2", "sim-aggregator", "127.0.0.1", "proposer", "aggregator",
          manifest.path("config_hash").asText(), "benchmark_contamination", "duplicate_id", "malformed_json",
          "proposer/refine/v1", "aggregator/v1", "load_dataset(\"parquet\"", "SFTTrainer", manifest.path("timings").path("started_at").asText())) {
        assertTrue(card.contains(s), "the card mentions " + s + ":\n" + card);
      }
      assertTrue(card.contains("| 15 | 11 | 2 | 2 | yes |"), "the counts table:\n" + card);
    }
  }

  @Test
  void givenADpoRun_theCardFeaturesFollowTheDpoSchema() throws Exception {
    Path work = Fixtures.workDir("card-dpo");
    try (SimulatedEndpoint sim = SimulatedEndpoint.start(SimulatedEndpoint.Settings.defaults().withLatencyMs(2))) {
      Files.createDirectories(work.resolve("in"));
      StringBuilder rows = new StringBuilder();
      for (int i = 0; i < 6; i++) {
        rows.append("{\"id\":\"d-").append(i).append("\",\"prompt\":\"Preference card test ").append(i)
            .append(": explain watermarks in stream processing.\"}\n");
      }
      Files.writeString(work.resolve("in/rows.jsonl"), rows);
      Files.writeString(work.resolve("config.yaml"), DpoFixtures.config(sim.baseUrl(), "{mode: single, judges: [j1]}", 3));
      Fixtures.Run run = Fixtures.moaa("dpo", "--config=" + work.resolve("config.yaml"),
          "--input=" + work.resolve("in/rows.jsonl"), "--output=" + work.resolve("out"));
      assertEquals(0, run.code(), run.err());
      Path out = work.resolve("out");
      long written = Fixtures.manifest(out).path("counts").path("written").asLong();
      assertTrue(written > 0, "some preference pairs were written");
      String card = Files.readString(out.resolve("README.md"), StandardCharsets.UTF_8);
      JsonNode header = header(card);
      assertEquals("other", header.path("license").asText(), "the default licence");
      assertTrue(textsOf(header.path("tags")).contains("dpo"));
      assertHeaderMatchesShards(header, out, "dpo", Fixtures.readParquet(out.resolve("dpo/parquet")).size(), written);
      for (String s : List.of("sim-policy", "sim-judge-1", "policy", "judge", "DPOTrainer", "judge mode: single")) {
        assertTrue(card.contains(s), "the card mentions " + s + ":\n" + card);
      }
    }
  }

  /** Checks configs, features and splits of the header against the shards of {@code dir}. */
  private static void assertHeaderMatchesShards(JsonNode header, Path out, String dir, long rowsInShards, long written)
      throws IOException {
    JsonNode config = header.path("configs").get(0);
    assertEquals(dir, config.path("config_name").asText());
    JsonNode files = config.path("data_files").get(0);
    assertEquals("train", files.path("split").asText());
    assertEquals(dir + "/parquet/*.parquet", files.path("path").asText());
    List<Path> shards = shards(out.resolve(dir).resolve("parquet"));
    assertFalse(shards.isEmpty(), "the data_files glob matches the shards");

    JsonNode info = header.path("dataset_info");
    assertEquals(dir, info.path("config_name").asText());
    JsonNode split = info.path("splits").get(0);
    assertEquals("train", split.path("name").asText());
    assertEquals(written, split.path("num_examples").asLong(), "num_examples = rows written");
    assertEquals(rowsInShards, split.path("num_examples").asLong(), "num_examples = rows in the shards");

    for (Path shard : shards) {
      try (ParquetFileReader reader = ParquetFileReader.open(LocalParquet.in(shard))) {
        MessageType schema = reader.getFooter().getFileMetaData().getSchema();
        assertFields(shard.getFileName() + ":", info.path("features"), schema);
      }
    }
  }

  /** A list of named features against the fields of a Parquet group, in order. */
  private static void assertFields(String path, JsonNode features, GroupType group) {
    assertTrue(features.isArray(), path + " features are a list");
    List<String> names = new ArrayList<>();
    features.forEach(f -> names.add(f.path("name").asText()));
    List<String> columns = group.getFields().stream().map(Type::getName).toList();
    assertEquals(columns, names, path + " field names");
    for (int i = 0; i < columns.size(); i++) {
      assertFeature(path + "." + columns.get(i), features.get(i), group.getType(i));
    }
  }

  /** One feature ({dtype} | {list} | {struct}) against a Parquet type, the way Arrow reads it. */
  private static void assertFeature(String path, JsonNode feature, Type type) {
    if (type.isPrimitive()) {
      assertEquals(arrowType(type.asPrimitiveType()), feature.path("dtype").asText(null), path + " dtype; feature " + feature);
      return;
    }
    GroupType g = type.asGroupType();
    if (LogicalTypeAnnotation.listType().equals(g.getLogicalTypeAnnotation())) {
      assertTrue(feature.has("list"), path + " is a list in the shard; feature " + feature);
      Type repeated = g.getType(0);
      Type element = !repeated.isPrimitive() && repeated.asGroupType().getFieldCount() == 1
          && repeated.getName().equals("list") ? repeated.asGroupType().getType(0) : repeated;
      JsonNode item = feature.get("list");
      if (item.isTextual()) {
        assertTrue(element.isPrimitive(), path + " items are values in the card, groups in the shard");
        assertEquals(arrowType(element.asPrimitiveType()), item.asText(), path + "[] dtype");
      } else if (item.isArray()) {
        assertFalse(element.isPrimitive(), path + " items are structs in the card, values in the shard");
        assertFields(path + "[]", item, element.asGroupType());
      } else {
        assertFeature(path + "[]", item, element);
      }
      return;
    }
    assertTrue(feature.has("struct"), path + " is a struct in the shard; feature " + feature);
    assertFields(path, feature.get("struct"), g);
  }

  private static String arrowType(PrimitiveType p) {
    return switch (p.getPrimitiveTypeName()) {
      case BINARY -> LogicalTypeAnnotation.stringType().equals(p.getLogicalTypeAnnotation())
          || p.getLogicalTypeAnnotation() instanceof LogicalTypeAnnotation.EnumLogicalTypeAnnotation ? "string" : "binary";
      case INT64 -> "int64";
      case INT32 -> "int32";
      case DOUBLE -> "float64";
      case FLOAT -> "float32";
      case BOOLEAN -> "bool";
      default -> {
        fail("unexpected Parquet type " + p);
        yield null;
      }
    };
  }

  private static JsonNode header(String card) throws IOException {
    assertTrue(card.startsWith("---\n"), "the card opens with YAML front matter");
    int end = card.indexOf("\n---\n", 4);
    assertTrue(end > 0, "the front matter is closed");
    return YAML.readTree(card.substring(4, end + 1));
  }

  private static List<String> textsOf(JsonNode array) {
    List<String> out = new ArrayList<>();
    array.forEach(n -> out.add(n.asText()));
    return out;
  }

  private static List<Path> shards(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().endsWith(".parquet")).sorted().toList();
    }
  }
}

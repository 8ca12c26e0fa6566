package dev.moaa.tests;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.moaa.runners.Moaa;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.avro.generic.GenericRecord;
import org.apache.parquet.avro.AvroParquetReader;
import org.apache.parquet.hadoop.ParquetReader;

/** Shared helpers of the end-to-end tests: run the command, read what it wrote. */
final class Fixtures {
  static final ObjectMapper JSON = new ObjectMapper();

  private Fixtures() {}

  /** A folder under tests/target that is kept after the run (the Python checks read some). */
  static Path workDir(String name) throws IOException {
    Path dir = Paths.get("target", "e2e", name).toAbsolutePath();
    if (Files.exists(dir)) {
      try (Stream<Path> walk = Files.walk(dir)) {
        for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
          Files.delete(p);
        }
      }
    }
    Files.createDirectories(dir);
    return dir;
  }

  /** The result of one in-process command. */
  record Run(int code, String out, String err) {}

  /**
   * Runs a command in this JVM. The pipeline commands get {@code --preflight=false} unless the test
   * names the flag: most tests count exactly the requests the simulator receives for the rows, and
   * the preflight's probes are tested on their own (RealEndpointExitCodesTest, the quick start).
   */
  static Run moaa(String... args) {
    if (args.length > 0 && List.of("sft", "dpo").contains(args[0])
        && java.util.Arrays.stream(args).noneMatch(a -> a.startsWith("--preflight"))) {
      String[] withFlag = java.util.Arrays.copyOf(args, args.length + 1);
      withFlag[args.length] = "--preflight=false";
      args = withFlag;
    }
    return moaaAsGiven(args);
  }

  /** Runs a command in this JVM exactly as given. */
  static Run moaaAsGiven(String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code;
    try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
      code = Moaa.run(args, o, e);
    }
    Run r = new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    System.out.println(r.out());
    System.err.println(r.err());
    return r;
  }

  static JsonNode manifest(Path output) throws IOException {
    return JSON.readTree(output.resolve("manifest.json").toFile());
  }

  static void assertReconciles(JsonNode manifest, long read, long written, long dead, long dropped) {
    JsonNode c = manifest.path("counts");
    assertEquals(read, c.path("read").asLong(), "read");
    assertEquals(written, c.path("written").asLong(), "written");
    assertEquals(dead, c.path("dead_lettered").asLong(), "dead-lettered");
    assertEquals(dropped, c.path("dropped").asLong(), "dropped");
    assertEquals(true, c.path("reconciled").asBoolean(), "reconciled");
  }

  /** Every row of every Parquet shard in {@code dir}, read with parquet-avro. */
  static List<GenericRecord> readParquet(Path dir) throws IOException {
    List<GenericRecord> rows = new ArrayList<>();
    if (!Files.isDirectory(dir)) {
      return rows; // a run that wrote no row writes no shard
    }
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".parquet")).sorted().toList()) {
        try (ParquetReader<GenericRecord> r = AvroParquetReader.<GenericRecord>builder(LocalParquet.in(f)).build()) {
          GenericRecord g;
          while ((g = r.read()) != null) {
            rows.add(g);
          }
        }
      }
    }
    return rows;
  }

  /** Every JSON line of every shard in {@code dir}. */
  static List<JsonNode> readJsonLines(Path dir) throws IOException {
    List<JsonNode> rows = new ArrayList<>();
    if (!Files.isDirectory(dir)) {
      return rows;
    }
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".jsonl")).sorted().toList()) {
        for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
          if (!line.isBlank()) {
            rows.add(JSON.readTree(line));
          }
        }
      }
    }
    return rows;
  }

  /**
   * A {@code clean:} section for runs whose input is benchmark prompts used as realistic test data:
   * decontamination (on by default) would drop them all.
   */
  static final String BENCHMARK_INPUT = "clean: {decontaminate: false}\n";

  static String config(String baseUrl, int proposers, int layers, int minProposals, String extraDefaults) {
    StringBuilder models = new StringBuilder();
    StringBuilder names = new StringBuilder();
    for (int i = 1; i <= proposers; i++) {
      models.append("  p").append(i).append(": {model: sim-proposer-").append(i).append("}\n");
      names.append(i > 1 ? ", " : "").append("p").append(i);
    }
    return "defaults:\n"
        + "  base_url: " + baseUrl + "\n"
        + "  max_tokens: 400\n"
        + "  max_concurrency: 16\n"
        + "  read_timeout_ms: 5000\n"
        + "  retry: {max_attempts: 4, initial_backoff_ms: 10, max_backoff_ms: 100}\n"
        + "  price: {input_per_million: 1.0, output_per_million: 2.0}\n"
        + extraDefaults
        + "models:\n" + models
        + "  agg: {model: sim-aggregator}\n"
        + "sft: {proposers: [" + names + "], aggregator: agg, layers: " + layers + ", min_proposals: " + minProposals + "}\n"
        + "output: {shards: 2}\n";
  }
}
